"""Creates the sample app's table and first row; with an argument, stores it as the greeting.

    venv/bin/python migrate.py                 # create what is missing
    venv/bin/python migrate.py "hello, world"  # and set the greeting

Run by the fabfile's `seed` task as the app user in the live release.
"""

import sys

import db


def main():
    if len(sys.argv) > 1:
        db.set_greeting(sys.argv[1])
    else:
        connection = db.connect()
        try:
            db.migrate(connection)
        finally:
            connection.close()
    print(db.greeting())


if __name__ == "__main__":
    main()
