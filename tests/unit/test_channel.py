"""A stamped channel times what it reads by when the kernel received it, so a paced
loop may read late and still time replies as they came (harness.channel)."""

import socket
import time

from harness.channel import Channel


class _Conn:
    def __init__(self, sock):
        self._sock = sock

    def disconnect(self):
        self._sock.close()


def tcp_pair():
    listener = socket.create_server(("127.0.0.1", 0))
    client = socket.create_connection(listener.getsockname())
    server, _ = listener.accept()
    listener.close()
    return client, server


def test_a_stamped_read_knows_how_long_its_data_waited():
    client, server = tcp_pair()
    channel = Channel("", _Conn(client), owner=None, stamped=True)
    # Linux turns receive stamps on for the whole stack a moment after the first socket
    # asks (a deferred static key): until then reads carry none and count as read now.
    for _ in range(100):
        server.sendall(b"+OK\r\n")
        time.sleep(0.01)
        channel.receive()
        if channel.age > 0:
            break
    server.sendall(b"+OK\r\n")
    time.sleep(0.3)  # the reply waits in the socket, as it does between a paced thread's sends
    assert channel.receive() == b"+OK\r\n"
    assert 0.25 <= channel.age < 60  # it arrived about 0.3 s before it was read
    server.sendall(b"+OK\r\n")
    time.sleep(0.01)
    channel.receive()
    assert channel.age < 0.25  # each read is timed by its own data
    channel.close()
    server.close()


def test_an_unstamped_channel_reads_as_it_arrives():
    client, server = tcp_pair()
    channel = Channel("", _Conn(client), owner=None)
    server.sendall(b"+OK\r\n")
    time.sleep(0.05)
    assert channel.receive() == b"+OK\r\n" and channel.age == 0.0
    channel.close()
    server.close()
