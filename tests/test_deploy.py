"""The scale-out layout's configuration files (deploy/, docs/deploy.md), as
bench.cluster renders them: cheap checks, no process started but nginx -t"""
import configparser
import shutil
import subprocess

import pytest

from bench.cluster import (
    DEPLOY,
    balancer_config,
    nginx_command,
    nginx_config,
    render,
    trytond_config,
)


def test_trytond_conf_leaves_the_port_to_each_instance(tmp_path):
    "Read after the environment, a listen in the file would win over it"
    conf = configparser.ConfigParser()
    conf.read(trytond_config(tmp_path, 'postgresql://db.example/'))
    assert conf['database']['uri'] == 'postgresql://db.example/'
    assert not conf.has_option('web', 'listen')
    assert conf['web']['num_proxies'] == '1'
    assert conf.getboolean('queue', 'worker')
    assert conf['cache']['clean_timeout'] == '0'


def test_balancer_names_every_trytond():
    text = balancer_config('127.0.0.1:8000',
        ['127.0.0.1:8001', '10.0.0.2:8001'], '/tmp/access.log')
    assert '    server 127.0.0.1:8001;\n    server 10.0.0.2:8001;' in text
    assert 'listen 127.0.0.1:8000;' in text


def test_unfilled_placeholder_is_refused():
    with pytest.raises(ValueError, match='LISTEN'):
        render(DEPLOY / 'nginx' / 'oms-balancer.conf',
            upstream_servers='', access_log='x')


def test_systemd_units_read_the_shared_conf():
    units = {p.name: p.read_text() for p in (DEPLOY / 'systemd').iterdir()}
    assert 'TRYTOND_WEB__LISTEN=127.0.0.1:%i' in units['trytond@.service']
    for name in ('trytond@.service', 'trytond-worker.service',
            'trytond-cron.service'):
        assert '-c /etc/trytond/trytond.conf' in units[name]
    assert 'EnvironmentFile=' in units['oms-sync@.service']


@pytest.mark.skipif(not shutil.which('nginx'),
    reason="no nginx (make cluster-tools)")
def test_nginx_accepts_the_configuration(tmp_path):
    config = nginx_config(tmp_path / 'nginx', '127.0.0.1:8000',
        ['127.0.0.1:8001', '127.0.0.1:8002'])
    command = nginx_command(config)
    command[command.index('-g'):] = ['-t']
    result = subprocess.run(command, capture_output=True, text=True,
        timeout=30)
    assert result.returncode == 0, result.stderr
