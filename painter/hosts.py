"""Which addresses a request to the painter may name: its defence against DNS rebinding.

A web page on another site can point its own DNS name at 127.0.0.1 and then script requests to
the painter; the browser still sends that site's name in the Host header. So the server answers
only requests whose Host header names the address it listens on (for a loopback server also
127.0.0.1, localhost or ::1). An IP literal cannot be rebound, so a server listening on every
address accepts any of those too.
"""

import ipaddress

LISTEN_EVERYWHERE = ("", "0.0.0.0", "::")


def is_loopback(host):
    """True when only this computer can reach `host` (127.x.x.x, ::1, localhost)."""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name: it may resolve to anything
        return False


def is_ip_literal(host):
    try:
        ipaddress.ip_address(host)
        return True
    except ValueError:
        return False


def url_host(host):
    """A host as it is written in a URL: an IPv6 address in brackets."""
    return f"[{host}]" if ":" in host else host


def accepted_host_names(listen_host):
    """Host names a request may use: the address listened on, plus this computer's loopback names
    when it listens on loopback or on every address. None in the set: any IP literal is fine too."""
    names = {listen_host.lower()}
    everywhere = listen_host in LISTEN_EVERYWHERE
    if everywhere or is_loopback(listen_host):
        names |= {"127.0.0.1", "localhost", "::1"}
    return names | ({None} if everywhere else set())


def host_matches(header, names, port):
    """True if a Host header (`name` or `name:port`, IPv6 in brackets) names this server."""
    header = header.strip().lower()
    if header.startswith("["):  # [::1]:8000
        name, _, rest = header[1:].partition("]")
        port_text = rest[1:] if rest.startswith(":") else rest
    else:
        name, _, port_text = header.partition(":")
    if port_text and port_text != str(port):
        return False
    return name in names or (None in names and is_ip_literal(name))
