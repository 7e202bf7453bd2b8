"""The agent's configuration: one YAML file, validated by pydantic.

It names the ERP, the state directory and each channel (kind, code, base
URL, mapping file, job intervals, paging and rate limits). It holds no
secret: a channel's credentials are *names* of environment variables (or
of entries in a secrets file kept outside the repository), resolved by
`Secrets` when the agent starts.
"""
from __future__ import annotations

import os
import re
import stat
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    model_validator,
)

from oms_contract.models import LEASE_TTL_MAX, LEASE_TTL_MIN

from .yamlfile import Problem, read_yaml

PROJECT = Path(__file__).resolve().parents[1]

KINDS = ('shopify', 'woocommerce', 'amazon', 'taobao')

# The credentials each kind needs, and the environment variable that holds
# each by default ({code} is the channel's code, upper-cased).
CREDENTIALS = {
    'shopify': {'token': 'OMS_{code}_TOKEN'},
    'woocommerce': {
        'consumer_key': 'OMS_{code}_CONSUMER_KEY',
        'consumer_secret': 'OMS_{code}_CONSUMER_SECRET',
        },
    # Login with Amazon: the app's client and the seller's refresh token
    'amazon': {
        'refresh_token': 'OMS_{code}_REFRESH_TOKEN',
        'client_id': 'OMS_{code}_CLIENT_ID',
        'client_secret': 'OMS_{code}_CLIENT_SECRET',
        },
    # TOP: the app's key and secret (the signing key) and the seller's
    # session (access token)
    'taobao': {
        'app_key': 'OMS_{code}_APP_KEY',
        'app_secret': 'OMS_{code}_APP_SECRET',
        'session': 'OMS_{code}_SESSION',
        },
    }

Seconds = Annotated[float, Field(gt=0)]


def _variable_name(value: str) -> str:
    # Tokens and keys (shpat_…, ck_…) are not upper-case names: a value
    # that is not one was most likely the secret itself, pasted in. The
    # message must not repeat it.
    if not re.fullmatch(r'[A-Z_][A-Z0-9_]*', value):
        raise ValueError(
            "must name an environment variable (or secrets file entry), "
            "in capitals, digits and _: never the secret itself")
    return value


VariableName = Annotated[str, AfterValidator(_variable_name)]


class _Config(BaseModel):
    model_config = ConfigDict(extra='forbid')


class Intervals(_Config):
    "How often each job runs, in seconds"
    orders: Seconds = 60
    # A stock poll with nothing to push is one ERP read and no marketplace
    # call: cheap enough to run every few seconds, so that a sale lowers
    # the other channels' quantities quickly.
    stock: Seconds = 3
    # Like the stock poll, nothing to ship is one ERP read; a merchant
    # expects the buyer's tracking e-mail within a minute of shipping.
    fulfilments: Seconds = 30
    reconcile: Seconds = 3600
    # Refunds issued in the ERP go out, then the channel's refunds and
    # returns come in: after-sales is not urgent to the minute.
    returns: Seconds = 120


class RateLimit(_Config):
    "Calls a second the agent allows itself on the channel account"
    per_second: Annotated[float, Field(ge=0)] = 2
    burst: Annotated[int, Field(ge=1)] = 4


class Retry(_Config):
    "When to give up on a failing marketplace call"
    attempts: Annotated[int, Field(ge=1)] = 8
    max_wait: Seconds = 60
    give_up_after: Seconds = 600


class ChannelConfig(_Config):
    code: Annotated[str, Field(min_length=1)]
    kind: Literal['shopify', 'woocommerce', 'amazon', 'taobao']
    base_url: Annotated[str, Field(pattern=r'^https?://')]
    settings: dict[str, Any] = Field(default_factory=dict, description=(
            "What the kind's API needs beyond the base URL (Amazon: seller "
            "id, marketplace ids, orders API version): never a secret. "
            "Checked against the adapter's Settings."))
    mapping: Path | None = None
    credentials: dict[str, VariableName] = Field(
        default_factory=dict, description=(
            "Credential name → environment variable (or secrets file "
            "entry) holding it"))
    api_version: str = '2026-01'
    intervals: Intervals = Field(default_factory=Intervals)
    overlap: Annotated[float, Field(ge=0)] = Field(300, description=(
            "Seconds re-read before the cursor: marketplaces index "
            "updates late and pages shift"))
    page_size: Annotated[int, Field(ge=1, le=250)] | None = None
    erp_batch: Annotated[int, Field(ge=1, le=1000)] | None = Field(
        None, description=(
            "Orders (and returns) an ERP call, 250 by default: smaller "
            "batches are shorter ERP transactions and commit a backfill's "
            "progress (and, sorted by update, its cursor) more often"))
    rate_limit: RateLimit = Field(default_factory=RateLimit)
    retry: Retry = Field(default_factory=Retry)
    enabled: bool = True

    @model_validator(mode='after')
    def _settings(self) -> ChannelConfig:
        from .channels import channel_kind  # the kinds import this module
        channel_kind(self.kind).adapter.Settings.model_validate(
            self.settings)
        return self

    @model_validator(mode='after')
    def _credential_names(self) -> ChannelConfig:
        needed = CREDENTIALS[self.kind]
        unknown = set(self.credentials) - set(needed)
        if unknown:
            raise ValueError(
                f"{self.kind} channels take credentials "
                f"{sorted(needed)}, not {sorted(unknown)}")
        for name, default in needed.items():
            self.credentials.setdefault(
                name, default.format(code=_env_name(self.code)))
        return self

    @property
    def account(self) -> str:
        "What the marketplace counts calls by: the shop and its credentials"
        names = sorted(self.credentials.items())
        return f'{self.kind}:{self.base_url}:{names}'


class ErpConfig(_Config):
    url: Annotated[str, Field(pattern=r'^https?://')]
    database: Annotated[str, Field(min_length=1)]
    key: VariableName = Field('OMS_ERP_KEY', description=(
            "The environment variable holding the ERP API key"))
    timeout: Seconds = 120


class LeaseConfig(_Config):
    """How this agent shares the channels with others (DESIGN §9): before a
    job runs for a channel, it takes that job's lease in the ERP"""
    # Comfortably longer than a job between renewals (a running job renews
    # every third of it), short enough that a killed agent's jobs are
    # taken over within a minute.
    ttl: Annotated[int, Field(ge=LEASE_TTL_MIN, le=LEASE_TTL_MAX)] = 60
    agent_id: Annotated[str, Field(pattern=r'^[\x21-\x7e]{1,100}$')] | None = (
        Field(None, description=(
            "This agent's name in the ERP's leases (default: the host "
            "name); the process id and a random part are added, so that "
            "two processes never share a lease")))
    enabled: bool = True


class AgentConfig(_Config):
    erp: ErpConfig
    leases: LeaseConfig = Field(default_factory=LeaseConfig)
    state_dir: Path = Path('~/.local/state/oms-sync')
    secrets_file: Path | None = None
    log_format: Literal['json', 'text'] = 'json'
    channels: list[ChannelConfig]
    source: Path | None = Field(None, exclude=True)

    @model_validator(mode='after')
    def _unique_codes(self) -> AgentConfig:
        codes = [c.code for c in self.channels]
        twice = sorted({c for c in codes if codes.count(c) > 1})
        if twice:
            raise ValueError(f"channel codes appear twice: {twice}")
        return self

    def channel(self, code: str) -> ChannelConfig:
        for channel in self.channels:
            if channel.code == code:
                return channel
        raise KeyError(code)

    def path(self, value: Path) -> Path:
        "A path of the file, relative to the file's own folder"
        value = value.expanduser()
        if not value.is_absolute() and self.source:
            value = self.source.parent / value
        return value

    @property
    def state_path(self) -> Path:
        return self.path(self.state_dir)


def load(path: str | os.PathLike) -> AgentConfig:
    """The configuration in a YAML file; ConfigError lists every problem
    with its line."""
    path = Path(path)
    config, problems = read_yaml(path, AgentConfig)
    if problems:
        raise ConfigError(problems)
    config.source = path.resolve()
    return config


class ConfigError(Exception):
    "A configuration file with problems: each names its file and line"

    def __init__(self, problems: list[Problem]):
        self.problems = problems
        super().__init__('\n'.join(str(p) for p in problems))


class Secrets:
    """Credentials by name, from the environment first, then from a
    secrets file (KEY=value lines) that must live outside the repository
    and be readable by its owner only."""

    def __init__(self, file: Path | None = None,
            environ: dict[str, str] | None = None):
        self.environ = os.environ if environ is None else environ
        self.file_values: dict[str, str] = {}
        if file is None and self.environ.get('OMS_SECRETS_FILE'):
            file = Path(self.environ['OMS_SECRETS_FILE'])
        if file is not None:
            self.file_values = self._read(file.expanduser().resolve())

    @staticmethod
    def _read(file: Path) -> dict[str, str]:
        if file.is_relative_to(PROJECT):
            raise SecretError(
                f"{file} is inside the project: keep secrets outside the "
                "repository")
        mode = file.stat().st_mode
        if mode & (stat.S_IRWXG | stat.S_IRWXO):
            raise SecretError(
                f"{file} is readable by others: chmod 600 it")
        values = {}
        for line in file.read_text(encoding='utf-8').splitlines():
            line = line.strip()
            if not line or line.startswith('#') or '=' not in line:
                continue
            name, value = line.split('=', 1)
            name = name.strip().removeprefix('export ').strip()
            values[name] = value.strip().strip('"').strip("'")
        return values

    def get(self, name: str) -> str:
        value = self.environ.get(name) or self.file_values.get(name)
        if not value:
            raise SecretError(
                f"{name} is not set (environment or secrets file)")
        return value

    def channel(self, channel: ChannelConfig) -> dict[str, str]:
        return {key: self.get(env)
            for key, env in channel.credentials.items()}


class SecretError(Exception):
    pass


def _env_name(code: str) -> str:
    return ''.join(c if c.isalnum() else '_' for c in code).upper()
