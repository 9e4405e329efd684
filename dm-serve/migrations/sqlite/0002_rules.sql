-- Permissions: allow/deny rules of a user over `environment:task` patterns (`*` and `?` match
-- any text and any one character). Deny wins; without an allowing rule nothing may run.
CREATE TABLE rules (
    id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (id),
    effect TEXT NOT NULL,
    pattern TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX rules_by_user ON rules (user_id);
