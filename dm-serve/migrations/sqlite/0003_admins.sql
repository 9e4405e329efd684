-- Admins read the audit log (who did what, from where); other users do not.
ALTER TABLE users ADD COLUMN admin BOOLEAN NOT NULL DEFAULT FALSE;
