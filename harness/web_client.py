"""Tryton's web client, sao 8.0 from npm, which the demo serves and the
browser tests drive; and the browser they drive it with (Debian's
chromium and chromium-driver)."""
import fcntl
import shutil
import subprocess
import tarfile
from pathlib import Path

SAO = 'tryton-sao@>=8.0 <8.1'
CHROMIUM = Path('/usr/bin/chromium')
CHROMEDRIVER = Path('/usr/bin/chromedriver')


def install_web_client(directory: Path, quiet: bool = False) -> Path | None:
    """sao in directory/sao, installed once. None when npm is missing or
    fails: the demo runs without it, the browser tests say why they
    skip."""
    directory.mkdir(parents=True, exist_ok=True)
    # Each xdist worker's session asks: one installs, the others wait
    with open(directory / '.sao.lock', 'w') as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _install(directory, quiet)


def _install(directory: Path, quiet: bool) -> Path | None:
    root = directory / 'sao'
    if (root / 'index.html').exists() and (root / 'node_modules').exists():
        return root
    npm = shutil.which('npm')
    if not npm:
        return None
    if not quiet:
        print("Installing the web client (sao 8.0) from npm...", flush=True)
    try:
        tarball = subprocess.run(
            [npm, 'pack', '--silent', SAO], cwd=directory, check=True,
            capture_output=True, text=True, timeout=300).stdout.split()[-1]
        shutil.rmtree(root, ignore_errors=True)
        shutil.rmtree(directory / 'package', ignore_errors=True)
        with tarfile.open(directory / tarball) as archive:
            archive.extractall(directory, filter='data')
        (directory / tarball).unlink()
        # sao's peer dependencies disagree with npm 7+'s strict resolver;
        # installed beside its final place, so a cut install is redone.
        subprocess.run(
            [npm, 'install', '--omit=dev', '--legacy-peer-deps',
                '--no-audit', '--no-fund'],
            cwd=directory / 'package', check=True, capture_output=True,
            timeout=600)
        (directory / 'package').rename(root)
    except (subprocess.SubprocessError, OSError, IndexError) as error:
        print(f"The web client could not be installed ({error}).",
            flush=True)
        shutil.rmtree(root, ignore_errors=True)
        return None
    return root


def missing_browser() -> str | None:
    "What the browser tests lack to run, if anything"
    for path, package in ((CHROMIUM, 'chromium'),
            (CHROMEDRIVER, 'chromium-driver')):
        if not path.exists():
            return f"{path} is missing (apt install {package})"
    try:
        import selenium  # noqa: F401
    except ImportError:
        return "selenium is not installed (pip install -e '.[test]')"
    return None
