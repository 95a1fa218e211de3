"""The facade painter's page (index.html, painter.css, painter.js) and its HTTP server (server.py)."""
