"""The facade painter: its page (index.html, painter.css, painter.js) and server.py."""
