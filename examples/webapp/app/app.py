"""The webapp example's sample application: a WSGI app served by gunicorn on every app node.

GET /         -> "served by <hostname>: <greeting from postgres>"
GET /version  -> the app's version (changes with each release of the example)
GET /health   -> "ok" without touching the database

The database connection comes from libpq's service file, which `dm launch` writes on every app
node (PGSERVICEFILE and PGSERVICE are set in dm.toml's app.env), so the app holds no settings
and no password of its own.
"""

import socket

import db

VERSION = "1"


def application(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/health":
        return respond(start_response, "200 OK", "ok\n")
    if path == "/version":
        return respond(start_response, "200 OK", VERSION + "\n")
    if path != "/":
        return respond(start_response, "404 Not Found", "not found\n")
    try:
        greeting = db.greeting()
    except db.Error as error:
        return respond(start_response, "503 Service Unavailable", f"database unavailable: {error}\n")
    return respond(start_response, "200 OK", f"served by {socket.gethostname()}: {greeting}\n")


def respond(start_response, status, body):
    data = body.encode("utf-8")
    start_response(status, [("Content-Type", "text/plain; charset=utf-8"), ("Content-Length", str(len(data)))])
    return [data]
