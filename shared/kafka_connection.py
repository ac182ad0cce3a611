"""How a Kafka client connects: one value (bootstrap, protocol, mechanism, user, password) turned into a
confluent-kafka configuration and into the options of Spark's Kafka source.

The deploy stack's broker wants SASL/SCRAM on its loopback listener (docs/security.md); a test fixture's
broker may be plain. No user = PLAINTEXT, so every client works against both. Each service gets its own
user and password in its environment (infra/services.py), read by :meth:`KafkaConnection.from_env`."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any

PROTOCOLS = ("PLAINTEXT", "SASL_PLAINTEXT", "SASL_SSL")
# PLAIN: compose's admin listener only (docs/security.md); every service logs in with SCRAM
MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")
_LOGIN_MODULES = {"SCRAM-SHA-512": "org.apache.kafka.common.security.scram.ScramLoginModule",
                  "SCRAM-SHA-256": "org.apache.kafka.common.security.scram.ScramLoginModule",
                  "PLAIN": "org.apache.kafka.common.security.plain.PlainLoginModule"}
DEFAULT_MECHANISM = "SCRAM-SHA-512"

# the environment variables every Kafka client of the project reads (compose uses the same names)
ENV_BOOTSTRAP = "KAFKA_BOOTSTRAP_SERVERS"
ENV_PROTOCOL = "KAFKA_SECURITY_PROTOCOL"
ENV_MECHANISM = "KAFKA_SASL_MECHANISM"
ENV_USER = "KAFKA_SASL_USERNAME"
ENV_PASSWORD = "KAFKA_SASL_PASSWORD"


class KafkaConnectionError(ValueError):
    """An inconsistent connection setting; the message names the variable and the value (never a password)."""


def _jaas_quote(value: str) -> str:
    # JAAS option values are double-quoted strings; a quote or backslash inside would end the value early
    return value.replace("\\", "\\\\").replace('"', '\\"')


@dataclass(frozen=True)
class KafkaConnection:
    bootstrap: str
    username: str = ""
    password: str = field(default="", repr=False)
    mechanism: str = DEFAULT_MECHANISM
    protocol: str = ""  # "" = SASL_PLAINTEXT with a user, PLAINTEXT without

    def __post_init__(self) -> None:
        proto = self.protocol or ("SASL_PLAINTEXT" if self.username else "PLAINTEXT")
        object.__setattr__(self, "protocol", proto)
        if proto not in PROTOCOLS:
            raise KafkaConnectionError(f"{ENV_PROTOCOL}={proto!r}: expected one of {', '.join(PROTOCOLS)}")
        if proto.startswith("SASL"):
            if self.mechanism not in MECHANISMS:
                raise KafkaConnectionError(f"{ENV_MECHANISM}={self.mechanism!r}: expected one of {', '.join(MECHANISMS)}")
            if not self.username or not self.password:
                missing = ENV_USER if not self.username else ENV_PASSWORD
                raise KafkaConnectionError(f"{ENV_PROTOCOL}={proto} needs {missing} (the service's Kafka credential "
                                           "from .env; infra/services.py sets it)")
        elif self.username or self.password:
            raise KafkaConnectionError(f"{ENV_PROTOCOL}=PLAINTEXT but a SASL user/password is set: a PLAINTEXT "
                                       "connection would ignore it")

    @property
    def authenticated(self) -> bool:
        return self.protocol != "PLAINTEXT"

    @classmethod
    def of(cls, target: "KafkaConnection | str") -> "KafkaConnection":
        """A connection as is, or a bare ``host:port`` string as a PLAINTEXT connection (test fixtures)."""
        return target if isinstance(target, KafkaConnection) else cls(bootstrap=target)

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None, default_bootstrap: str | None = None) -> "KafkaConnection":
        env = os.environ if env is None else env
        bootstrap = env.get(ENV_BOOTSTRAP) or default_bootstrap
        if not bootstrap:
            raise KafkaConnectionError(f"environment variable {ENV_BOOTSTRAP} is not set")
        return cls(bootstrap=bootstrap, username=env.get(ENV_USER, ""), password=env.get(ENV_PASSWORD, ""),
                   mechanism=env.get(ENV_MECHANISM) or DEFAULT_MECHANISM, protocol=env.get(ENV_PROTOCOL, ""))

    def as_env(self) -> dict[str, str]:
        """The environment a child process reads back with :meth:`from_env` (infra/services.py)."""
        env = {ENV_BOOTSTRAP: self.bootstrap, ENV_PROTOCOL: self.protocol}
        if self.authenticated:
            env.update({ENV_MECHANISM: self.mechanism, ENV_USER: self.username, ENV_PASSWORD: self.password})
        return env

    def client_config(self, **extra: Any) -> dict[str, Any]:
        """confluent-kafka (librdkafka) configuration; ``extra`` adds the client's own settings."""
        conf: dict[str, Any] = {"bootstrap.servers": self.bootstrap, "security.protocol": self.protocol}
        if self.authenticated:
            conf.update({"sasl.mechanism": self.mechanism, "sasl.username": self.username,
                         "sasl.password": self.password})
        return {**conf, **extra}

    def spark_options(self) -> dict[str, str]:
        """Options of Spark's Kafka source (``spark.read.format("kafka").options(**...)``): set per read on the
        DataFrame reader, in the driver's memory — never a ``--conf`` on a command line. Spark redacts the JAAS
        value (it contains "password") in plans and logs."""
        opts = {"kafka.bootstrap.servers": self.bootstrap, "kafka.security.protocol": self.protocol}
        if self.authenticated:
            module = _LOGIN_MODULES[self.mechanism]
            opts.update({"kafka.sasl.mechanism": self.mechanism,
                         "kafka.sasl.jaas.config": f'{module} required username="{_jaas_quote(self.username)}" '
                                                   f'password="{_jaas_quote(self.password)}";'})
        return opts
