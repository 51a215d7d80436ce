-- The chapter tunes a user_sessions table it never creates: created here (not chapter text).
CREATE TABLE user_sessions (
    session_id text PRIMARY KEY,
    data jsonb,
    last_seen_at timestamptz
);
