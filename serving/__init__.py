"""The PostgreSQL serving database: schema (Alembic migrations), roles, lakehouse sync and the live ticker
consumer. Contract: docs/contracts-gold-serving.md."""
