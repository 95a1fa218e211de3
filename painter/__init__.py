"""The facade painter: its page (index.html, painter.css, painter.js), the HTTP server behind it
(server.py) and the Host-header check that keeps other web sites out (hosts.py)."""
