"""How a configuration key is declared: a dataclass field that carries its section,
default text, parser, help and metavar. harness.settings declares the keys every run
has; each workload declares its own where it is defined (`config_keys`), and settings
puts them together into RunConfig. Pure; imported by both sides, so it imports neither.
"""

from __future__ import annotations

from dataclasses import field

from harness import parsers as p

SECTIONS = ("target", "run", "workload", "metrics", "thresholds")


def key(section: str, default: str, parser: p.Parser, help: str, metavar: str = "VALUE", option: str = ""):
    """Declare a configuration key: a RunConfig field carrying its own description."""
    assert section in SECTIONS, section
    return field(
        metadata=dict(section=section, default=default, parser=parser, help=help, metavar=metavar,
                      option_name=option)
    )
