"""The agent as configured: the ERP client, and for each channel its
adapter, mapping and jobs. A channel that cannot be set up (missing
secret, broken mapping file) is reported and left out; the others run."""
from __future__ import annotations

import dataclasses
import logging
import os
from pathlib import Path

from .channels import channel_kind
from .config import AgentConfig, ChannelConfig, SecretError, Secrets
from .erp import ErpClient
from .flows import ChannelSync
from .leases import Leases, holder_id
from .logs import masker
from .mapping import Mapping, MappingError
from .mapping import load as load_mapping
from .state import AgentState

logger = logging.getLogger(__name__)

@dataclasses.dataclass
class Agent:
    config: AgentConfig
    erp: ErpClient
    state: AgentState
    channels: dict[str, ChannelSync]
    broken: dict[str, str]  # channel code → why it could not be set up
    # The ERP leases this agent takes before each job; None: not shared
    leases: Leases | None = None

    @classmethod
    def from_config(cls, config: AgentConfig,
            environ: dict[str, str] | None = None) -> Agent:
        environ = os.environ if environ is None else environ
        secrets = Secrets(
            config.path(config.secrets_file) if config.secrets_file
            else None, environ)
        erp_key = secrets.get(config.erp.key)
        masker.add([erp_key])
        erp = ErpClient(config.erp.url, config.erp.database, erp_key,
            timeout=config.erp.timeout)
        state_dir = config.state_path
        leases = None
        if config.leases.enabled:
            leases = Leases(erp, holder_id(config.leases.agent_id),
                config.leases.ttl)
        agent = cls(config, erp, AgentState(state_dir), {}, {}, leases)
        for channel in config.channels:
            if not channel.enabled:
                continue
            try:
                agent.channels[channel.code] = channel_sync(
                    config, channel, secrets, erp, state_dir)
            except (SecretError, MappingError, OSError) as error:
                agent.broken[channel.code] = str(error)
                agent.state.failed(channel.code, 'setup', str(error))
                logger.error("channel %s is not set up: %s", channel.code,
                    error, extra={'channel': channel.code})
            else:
                agent.state.resolved(channel.code, 'setup')
        return agent


def channel_sync(config: AgentConfig, channel: ChannelConfig,
        secrets: Secrets, erp: ErpClient, state_dir: Path) -> ChannelSync:
    kind = channel_kind(channel.kind)
    credentials = secrets.channel(channel)
    masker.add(credentials.values())
    adapter = kind.adapter(channel, credentials, state_dir)
    mapping = Mapping()
    if channel.mapping is not None:
        mapping = load_mapping(
            config.path(channel.mapping), channel.code, channel.kind)
    return ChannelSync(channel, kind.mapper, adapter, mapping, erp)
