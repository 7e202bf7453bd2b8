"""The agent's configuration file and its secrets, as an IT admin sets them
up: a valid file loads with the documented defaults, a wrong one is
refused with its line, secrets come from the environment or an owner-only
file outside the project, and no secret value reaches a log line."""
import json
import logging
import sys

import pytest

from sync_agent import config as agent_config
from sync_agent import logs
from sync_agent.config import (
    ChannelConfig,
    ConfigError,
    SecretError,
    Secrets,
    load,
)

CONFIG = '''\
erp:
  url: http://127.0.0.1:8000
  database: oms
state_dir: state
channels:
  - code: SHOP
    kind: shopify
    base_url: https://my-shop.myshopify.com
    mapping: mappings/shop.yaml
    page_size: 20
    rate_limit: {per_second: 2, burst: 4}
  - code: WOO
    kind: woocommerce
    base_url: https://shop.example.com
    intervals: {orders: 120, stock: 15}
'''

SHOPIFY_TOKEN = 'shpat_0123456789abcdef0123456789abcdef'


def write(tmp_path, text, name='oms-sync.yaml'):
    path = tmp_path / name
    path.write_text(text, encoding='utf-8')
    return path


def refused(path):
    with pytest.raises(ConfigError) as error:
        load(path)
    return [(p.line, p.message) for p in error.value.problems]


# -- The configuration file ---------------------------------------------

def test_a_config_with_two_channels_loads_with_defaults(tmp_path):
    config = load(write(tmp_path, CONFIG))

    shop, woo = config.channels
    assert (shop.code, shop.kind, woo.code, woo.kind) == (
        'SHOP', 'shopify', 'WOO', 'woocommerce')
    assert shop.credentials == {'token': 'OMS_SHOP_TOKEN'}
    assert woo.credentials == {'consumer_key': 'OMS_WOO_CONSUMER_KEY',
        'consumer_secret': 'OMS_WOO_CONSUMER_SECRET'}
    assert config.erp.key == 'OMS_ERP_KEY'
    assert (shop.api_version, shop.overlap, shop.page_size) == (
        '2026-01', 300, 20)
    assert (woo.intervals.orders, woo.intervals.stock,
        woo.intervals.reconcile) == (120, 15, 3600)
    assert (woo.retry.attempts, woo.retry.give_up_after) == (8, 600)
    # Relative paths are relative to the file.
    assert config.state_path == tmp_path / 'state'
    assert config.path(shop.mapping) == tmp_path / 'mappings' / 'shop.yaml'
    assert config.channel('WOO') is woo


def test_the_documented_example_loads_for_every_kind():
    "docs/oms-sync.example.yaml as shipped: one channel of each kind"
    example = agent_config.PROJECT / 'docs' / 'oms-sync.example.yaml'

    loaded = load(example)

    assert {c.kind for c in loaded.channels} == set(agent_config.KINDS)


def test_stock_is_polled_every_few_seconds_by_default():
    intervals = ChannelConfig(code='SHOP', kind='shopify',
        base_url='https://shop.example').intervals

    assert intervals.stock <= 5
    assert intervals.reconcile == 3600


def test_default_variable_names_follow_the_channel_code():
    channel = ChannelConfig(code='eu-shop.2', kind='shopify',
        base_url='https://shop.example')

    assert channel.credentials == {'token': 'OMS_EU_SHOP_2_TOKEN'}


def test_credential_variables_can_be_renamed():
    channel = ChannelConfig(code='WOO', kind='woocommerce',
        base_url='https://shop.example',
        credentials={'consumer_secret': 'WOO_CS'})

    assert channel.credentials == {
        'consumer_key': 'OMS_WOO_CONSUMER_KEY', 'consumer_secret': 'WOO_CS'}


def test_a_token_written_into_the_file_is_refused_with_its_line(tmp_path):
    path = write(tmp_path, CONFIG.replace(
            '    page_size: 20\n',
            f'    credentials:\n      token: {SHOPIFY_TOKEN}\n'))

    problems = refused(path)

    assert [line for line, _ in problems] == [11]
    assert problems[0][1].startswith('channels.0.credentials.token: ')
    assert 'environment variable' in problems[0][1]
    # The refusal does not repeat the secret it found.
    assert SHOPIFY_TOKEN not in problems[0][1]


def test_an_erp_key_written_into_the_file_is_refused(tmp_path):
    key = 'Xk3-9fQz_e1XyVb2Lm8pR0tW'
    path = write(tmp_path, CONFIG.replace(
            '  database: oms\n', f'  database: oms\n  key: {key}\n'))

    problems = refused(path)

    assert [line for line, _ in problems] == [4]
    assert key not in problems[0][1]


def test_duplicate_channel_codes_are_refused(tmp_path):
    path = write(tmp_path, CONFIG.replace('code: WOO', 'code: SHOP'))

    [(_, message)] = refused(path)

    assert "channel codes appear twice: ['SHOP']" in message


def test_wrong_settings_are_refused_each_with_its_line(tmp_path):
    path = write(tmp_path, CONFIG
        .replace('    page_size: 20\n',
            '    page_size: 20\n    credentials: {password: OMS_X}\n')
        .replace('kind: woocommerce', 'kind: magento')
        .replace('intervals: {orders: 120', 'intervals: {orders: 0'))

    problems = refused(path)

    lines = sorted(line for line, _ in problems)
    assert lines == [6, 14, 16]
    said = dict(problems)
    assert "not ['password']" in said[6]
    assert said[14].startswith('channels.1.kind: ')
    assert said[16].startswith('channels.1.intervals.orders: ')


def test_a_duplicate_key_in_the_file_is_refused(tmp_path):
    path = write(tmp_path, CONFIG.replace(
            '    page_size: 20\n', '    page_size: 20\n    page_size: 50\n'))

    problems = refused(path)

    assert problems == [
        (11, "'page_size' is given twice (first on line 10); only one may "
            "stay")]


# -- Secrets ------------------------------------------------------------

@pytest.fixture
def outside(tmp_path, monkeypatch):
    "The project is elsewhere than the test's files"
    project = tmp_path / 'project'
    project.mkdir()
    monkeypatch.setattr(agent_config, 'PROJECT', project)
    return tmp_path


def secrets_file(folder, text, mode=0o600):
    path = folder / 'secrets.env'
    path.write_text(text, encoding='utf-8')
    path.chmod(mode)
    return path


def shop_channel():
    return ChannelConfig(code='SHOP', kind='shopify',
        base_url='https://shop.example')


def woo_channel():
    return ChannelConfig(code='WOO', kind='woocommerce',
        base_url='https://shop.example')


def test_secrets_come_from_the_environment_first(outside):
    file = secrets_file(outside, '# agent secrets\n'
        'OMS_SHOP_TOKEN=from-the-file\n'
        'export OMS_WOO_CONSUMER_KEY="ck_from_the_file"\n'
        "OMS_WOO_CONSUMER_SECRET = 'cs_from_the_file'\n")
    secrets = Secrets(file, environ={'OMS_SHOP_TOKEN': 'from-the-env'})

    assert secrets.channel(shop_channel()) == {'token': 'from-the-env'}
    assert secrets.channel(woo_channel()) == {
        'consumer_key': 'ck_from_the_file',
        'consumer_secret': 'cs_from_the_file'}


def test_the_secrets_file_may_be_named_in_the_environment(outside):
    file = secrets_file(outside, 'OMS_ERP_KEY=erp-key-value\n')

    secrets = Secrets(environ={'OMS_SECRETS_FILE': str(file)})

    assert secrets.get('OMS_ERP_KEY') == 'erp-key-value'


def test_a_missing_secret_names_its_variable(outside):
    with pytest.raises(SecretError, match='OMS_SHOP_TOKEN is not set'):
        Secrets(environ={}).channel(shop_channel())


def test_a_secrets_file_inside_the_project_is_refused(outside):
    file = secrets_file(outside / 'project', 'OMS_SHOP_TOKEN=x\n')

    with pytest.raises(SecretError, match='inside the project'):
        Secrets(file, environ={})


@pytest.mark.skipif(sys.platform == 'win32', reason="POSIX modes")
@pytest.mark.parametrize('mode', [0o640, 0o604, 0o660])
def test_a_secrets_file_others_can_read_is_refused(outside, mode):
    file = secrets_file(outside, 'OMS_SHOP_TOKEN=x\n', mode)

    with pytest.raises(SecretError, match='chmod 600'):
        Secrets(file, environ={})


def test_the_real_project_folder_is_the_repository():
    assert (agent_config.PROJECT / 'sync_agent' / 'config.py').exists()


# -- Secrets never logged -----------------------------------------------

@pytest.fixture
def masker(monkeypatch):
    monkeypatch.setattr(logs.masker, 'secrets', set())
    return logs.masker


def record(message, *args, exc_info=None, **extra):
    entry = logging.LogRecord('sync_agent.test', logging.WARNING, __file__,
        1, message, args, exc_info)
    entry.__dict__.update(extra)
    return entry


@pytest.mark.parametrize('formatter', [logs.JsonFormatter(),
        logs.TextFormatter()], ids=['json', 'text'])
def test_a_registered_secret_is_masked_in_logs(masker, formatter):
    masker.add([SHOPIFY_TOKEN, 'cs_secret_value', 'abc'])
    try:
        raise ValueError(f"refused token {SHOPIFY_TOKEN}")
    except ValueError:
        error = sys.exc_info()

    line = formatter.format(record(
            "calling with %s and %s", SHOPIFY_TOKEN,
            'https://shop.example/?consumer_secret=cs_secret_value',
            exc_info=error, channel='SHOP'))

    assert SHOPIFY_TOKEN not in line
    assert 'cs_secret_value' not in line
    assert line.count('***') >= 3
    # Short values would mask ordinary words: not taken as secrets.
    assert 'abc' not in masker.secrets


def test_json_logs_keep_their_fields(masker):
    masker.add(['erp-key-value'])

    entry = json.loads(logs.JsonFormatter().format(record(
                "key %s", 'erp-key-value', channel='SHOP', order='1042')))

    assert entry['message'] == 'key ***'
    assert (entry['level'], entry['channel'], entry['order']) == (
        'warning', 'SHOP', '1042')


def test_secrets_in_extra_fields_are_masked(masker):
    masker.add([SHOPIFY_TOKEN])

    line = logs.JsonFormatter().format(record(
            "setup failed", error=f"{SHOPIFY_TOKEN} is not set"))

    assert SHOPIFY_TOKEN not in line

