"""The PostgreSQL store: schema migrations, monthly partitions, and the store ports on
psycopg 3 (async, psycopg-pool)."""
