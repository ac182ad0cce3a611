"""Lakehouse table contracts shared by the layers: table definitions, paths, Hudi options and the Kafka
offset checkpoint kept inside Hudi commits."""
