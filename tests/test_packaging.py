"""The built wheel works for a user.

Builds the wheel once, checks what it carries, installs it into a clean virtualenv
(no access to this repository's ``src``), and drives a tiny host project through
``check``, ``migrate``, ``makemigrations --check`` and a rule match.

Also resolves the wheel together with all of SentryHub's pinned requirements
(``tests/requirements/sentryhub.txt``), as its ``pip install`` would.

Run with ``pytest -m packaging``; it needs network access to the package index, and
Python 3.9 and 3.11 on ``PATH`` (as ``python3.9``, ``python3.11``) for SentryHub's pins.
"""

from __future__ import annotations

import email.parser
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

pytestmark = pytest.mark.packaging

REPO = Path(__file__).resolve().parent.parent
PACKAGE_DIR = REPO / "src" / "django_slack_rules"

BUILD_TIMEOUT = 300
INSTALL_TIMEOUT = 300
MANAGE_TIMEOUT = 60

# -- helpers -----------------------------------------------------------------------------------


def _text(output: str | bytes | None) -> str:
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output or ""


def _report(cmd: Sequence[str], returncode: object, stdout: object, stderr: object) -> str:
    return (
        f"command: {' '.join(map(str, cmd))}\nexit status: {returncode}\n"
        f"--- stdout ---\n{_text(stdout)}\n--- stderr ---\n{_text(stderr)}"
    )


def run(
    cmd: Sequence[str | Path],
    *,
    timeout: float,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``cmd`` with a timeout; fail the test with its output if it fails or hangs."""
    cmd = [str(part) for part in cmd]
    try:
        proc = subprocess.run(
            cmd,
            cwd=cwd,
            env=dict(env) if env is not None else None,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(f"timed out after {timeout}s\n" + _report(cmd, "-", exc.stdout, exc.stderr))
    if check and proc.returncode != 0:
        pytest.fail(_report(cmd, proc.returncode, proc.stdout, proc.stderr))
    return proc


def output(proc: subprocess.CompletedProcess[str]) -> str:
    return _report(proc.args, proc.returncode, proc.stdout, proc.stderr)


# -- the wheel ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel built from the repository root (once per module)."""
    outdir = tmp_path_factory.mktemp("wheelhouse")
    if importlib.util.find_spec("build") is not None:
        cmd = [sys.executable, "-m", "build", "--wheel", "--outdir", outdir, REPO]
    else:
        cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", outdir, REPO]
    proc = run(cmd, timeout=BUILD_TIMEOUT, cwd=REPO)
    wheels = sorted(outdir.glob("django_slack_rules-*.whl"))
    assert len(wheels) == 1, f"expected one wheel in {outdir}, found {wheels}\n" + output(proc)
    return wheels[0]


@pytest.fixture(scope="module")
def wheel_files(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


@pytest.fixture(scope="module")
def wheel_metadata(wheel: Path, wheel_files: set[str]) -> email.message.Message:
    [name] = [n for n in wheel_files if n.endswith(".dist-info/METADATA")]
    with zipfile.ZipFile(wheel) as archive:
        return email.parser.Parser().parsestr(archive.read(name).decode())


def repo_files(subdir: str) -> set[str]:
    """Files under src/django_slack_rules/<subdir>, as wheel paths."""
    root = PACKAGE_DIR / subdir
    return {
        "django_slack_rules/" + path.relative_to(PACKAGE_DIR).as_posix()
        for path in root.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix != ".pyc"
    }


def test_wheel_carries_the_package_files(wheel_files: set[str]) -> None:
    required = {
        "django_slack_rules/__init__.py",
        "django_slack_rules/py.typed",
        "django_slack_rules/migrations/__init__.py",
        "django_slack_rules/migrations/0001_initial.py",
    }
    assert required <= wheel_files, f"missing from the wheel: {sorted(required - wheel_files)}"

    modules = {
        "django_slack_rules/" + p.relative_to(PACKAGE_DIR).as_posix()
        for p in PACKAGE_DIR.rglob("*.py")
        if "__pycache__" not in p.parts
    }
    assert modules <= wheel_files, (
        f"modules missing from the wheel: {sorted(modules - wheel_files)}"
    )

    # locale/ ships the compiled .mo (hosts' CI rarely has gettext) next to its .po.
    assert "django_slack_rules/locale/de/LC_MESSAGES/django.mo" in wheel_files
    for subdir in ("templates", "static", "locale"):
        in_wheel = {n for n in wheel_files if n.startswith(f"django_slack_rules/{subdir}/")}
        in_repo = repo_files(subdir)
        assert in_wheel == in_repo, (
            f"{subdir}/ differs: only in the repo {sorted(in_repo - in_wheel)}, "
            f"only in the wheel {sorted(in_wheel - in_repo)}"
        )


def test_wheel_carries_nothing_else(wheel_files: set[str]) -> None:
    top_level = {name.split("/", 1)[0] for name in wheel_files}
    dist_info = {t for t in top_level if t.endswith(".dist-info")}
    assert top_level - dist_info == {"django_slack_rules"}, sorted(top_level)
    strays = sorted(
        n
        for n in wheel_files
        if "tests" in n.split("/")[:-1] or "__pycache__" in n or n.endswith((".pyc", ".pyo"))
    )
    assert not strays, f"the wheel carries test or bytecode files: {strays}"


def test_wheel_metadata(wheel_metadata: email.message.Message) -> None:
    assert wheel_metadata["Name"] == "django-slack-rules"

    requires = {
        canonicalize_name(Requirement(r).name) for r in wheel_metadata.get_all("Requires-Dist", [])
    }
    expected = {
        "django",
        "celery",
        "requests",
        "django-crispy-forms",
        "crispy-bootstrap5",
        "slack-sdk",
    }
    assert expected <= requires, f"missing Requires-Dist: {sorted(expected - requires)}"

    classifiers = set(wheel_metadata.get_all("Classifier", []))
    expected_classifiers = {f"Framework :: Django :: {v}" for v in ("4.2", "5.2", "6.0", "6.1")} | {
        f"Programming Language :: Python :: 3.{minor}" for minor in range(9, 14)
    }
    missing = expected_classifiers - classifiers
    assert not missing, f"missing classifiers: {sorted(missing)}"


# -- a clean virtualenv with the wheel installed -----------------------------------------------


def venv_python(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if os.name == "nt" else "bin/python")


@pytest.fixture(scope="module")
def venv(tmp_path_factory: pytest.TempPathFactory, wheel: Path) -> Path:
    """A new virtualenv with only the wheel (and its dependencies) installed; its python."""
    venv = tmp_path_factory.mktemp("venv") / "env"
    python = venv_python(venv)
    uv = shutil.which("uv")
    if uv:
        run([uv, "venv", "--python", sys.executable, venv], timeout=INSTALL_TIMEOUT)
        run([uv, "pip", "install", "--python", python, wheel], timeout=INSTALL_TIMEOUT)
    else:
        run([sys.executable, "-m", "venv", venv], timeout=INSTALL_TIMEOUT)
        assert python.exists(), f"python -m venv made no interpreter at {python}"
        run(
            [python, "-m", "pip", "install", "--disable-pip-version-check", "--no-input", wheel],
            timeout=INSTALL_TIMEOUT,
        )
    return python


# -- the host project --------------------------------------------------------------------------

HOST_FILES = {
    "manage.py": """
        import os
        import sys

        if __name__ == "__main__":
            os.environ.setdefault("DJANGO_SETTINGS_MODULE", "hostproj.settings")
            from django.core.management import execute_from_command_line

            execute_from_command_line(sys.argv)
    """,
    "hostproj/__init__.py": "",
    "hostproj/settings.py": """
        import os
        from pathlib import Path

        BASE_DIR = Path(__file__).resolve().parent.parent
        SECRET_KEY = "packaging-test-not-a-secret"
        DEBUG = False
        ALLOWED_HOSTS = ["*"]
        USE_TZ = True

        INSTALLED_APPS = [
            "django.contrib.contenttypes",
            "django.contrib.auth",
            "django.contrib.sessions",
            "django.contrib.messages",
            "django.contrib.admin",
            "django.contrib.staticfiles",
            "crispy_forms",
            "crispy_bootstrap5",
            "django_slack_rules",
            "alerts",
        ]
        MIDDLEWARE = [
            "django.contrib.sessions.middleware.SessionMiddleware",
            "django.middleware.common.CommonMiddleware",
            "django.middleware.csrf.CsrfViewMiddleware",
            "django.contrib.auth.middleware.AuthenticationMiddleware",
            "django.contrib.messages.middleware.MessageMiddleware",
        ]
        ROOT_URLCONF = "hostproj.urls"
        TEMPLATES = [
            {
                "BACKEND": "django.template.backends.django.DjangoTemplates",
                "DIRS": [],
                "APP_DIRS": True,
                "OPTIONS": {
                    "context_processors": [
                        "django.template.context_processors.request",
                        "django.contrib.auth.context_processors.auth",
                        "django.contrib.messages.context_processors.messages",
                    ]
                },
            }
        ]
        DATABASES = {
            "default": {"ENGINE": "django.db.backends.sqlite3", "NAME": BASE_DIR / "db.sqlite3"}
        }
        DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
        STATIC_URL = "/static/"

        # README's settings (steps 3 and 6), pasted as they are: @README_SETTINGS@

        # A test changes the signal path to see check fail.
        SLACK_RULES["SIGNAL"] = os.environ.get("HOST_SLACK_SIGNAL", SLACK_RULES["SIGNAL"])
    """,
    "hostproj/urls.py": """
        from django.contrib import admin
        from django.urls import path

        urlpatterns = [path("admin/", admin.site.urls)]
    """,
    "alerts/__init__.py": "",
    "alerts/migrations/__init__.py": "",
    "alerts/models.py": """
        from django.db import models


        class AlertGroup(models.Model):
            fingerprint = models.CharField(max_length=100, unique=True)
            name = models.CharField(max_length=255)
            labels = models.JSONField(default=dict)
            current_status = models.CharField(max_length=20, default="firing")
            is_silenced = models.BooleanField(default=False)


        class AlertInstance(models.Model):
            alert_group = models.ForeignKey(
                AlertGroup, on_delete=models.CASCADE, related_name="instances"
            )
            status = models.CharField(max_length=20)
            started_at = models.DateTimeField()
    """,
    "alerts/signals.py": """
        from django.dispatch import Signal

        alert_processed = Signal()
    """,
}

MATCH_SCRIPT = """
from alerts.signals import alert_processed
from django_slack_rules.models import SlackIntegrationRule
from django_slack_rules.services.slack_matcher import SlackRuleMatcherService

assert alert_processed.has_listeners(), "the package did not connect to SLACK_RULES['SIGNAL']"
rule = SlackIntegrationRule(
    name="db critical",
    match_criteria={"severity": "critical", "team": "db"},
    slack_channel="#db-alerts",
    message_template=":fire: *{{ alertname }}* {{ summary }}",
)
rule.full_clean()
rule.save()
SlackIntegrationRule.objects.create(name="everything", priority=-1, message_template="x")
found = SlackRuleMatcherService().find_matching_rule(
    {"severity": "critical", "team": "db", "instance": "db-1"}
)
assert found == rule, f"expected {rule!r}, got {found!r}"
print("MATCHED", found.name)
# Alertmanager matchers (RE2 from the wheel's dependencies) and fan-out.
pager = SlackIntegrationRule(
    name="pager",
    priority=5,
    match_criteria=['severity=~"critical|page"', 'team!="web"'],
    continue_matching=True,
    message_template="x",
)
pager.full_clean()
pager.save()
got = SlackRuleMatcherService().find_matching_rules({"severity": "page", "team": "db"})
assert [r.name for r in got] == ["pager", "everything"], got
print("FANNED OUT", ", ".join(r.name for r in got))
"""


@dataclass
class Host:
    dir: Path
    python: Path
    env: dict[str, str]

    def manage(
        self, *args: str, check: bool = True, env: Mapping[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run(
            [self.python, "manage.py", *args],
            timeout=MANAGE_TIMEOUT,
            cwd=self.dir,
            env={**self.env, **(env or {})},
            check=check,
        )


def readme_settings() -> str:
    """README's settings snippets (Install into your project, steps 3 and 6: the package's
    settings, the recovery's beat schedule), as a user pastes them."""
    blocks = [
        "\n".join(line[len(indent) :] for line in body.split("\n"))
        for indent, body in re.findall(
            r"^( *)```python\n(.*?)\n\1```", (REPO / "README.md").read_text(), re.M | re.S
        )
    ]
    [settings] = [block for block in blocks if "SLACK_RULES = {" in block]
    [schedule] = [block for block in blocks if "CELERY_BEAT_SCHEDULE" in block]
    return f"{settings}\n{schedule}"


@pytest.fixture(scope="module")
def host(tmp_path_factory: pytest.TempPathFactory, venv: Path) -> Host:
    """The tiny host project, run by the venv's python with only itself on PYTHONPATH."""
    root = tmp_path_factory.mktemp("host")
    for name, content in HOST_FILES.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        text = textwrap.dedent(content).lstrip()
        path.write_text(text.replace("@README_SETTINGS@", "\n" + readme_settings()))
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "VIRTUAL_ENV"}
        and not k.startswith(("DJANGO_", "SLACK_", "DSR_", "CELERY_"))
    }
    env.update(
        PYTHONPATH=str(root),
        PYTHONNOUSERSITE="1",
        DJANGO_SETTINGS_MODULE="hostproj.settings",
    )
    host = Host(dir=root, python=venv, env=env)
    host.manage("makemigrations", "alerts")
    assert (root / "alerts/migrations/0001_initial.py").exists()
    return host


@pytest.fixture(scope="module")
def migrated_host(host: Host) -> tuple[Host, subprocess.CompletedProcess[str]]:
    return host, host.manage("migrate", "--no-input")


def test_installed_package_comes_from_the_venv(host: Host) -> None:
    probe = (
        "import json, sys, django, django_slack_rules; "
        "print(json.dumps({'file': django_slack_rules.__file__, 'path': sys.path, "
        "'prefix': sys.prefix, 'django': django.__version__}))"
    )
    proc = run([host.python, "-c", probe], timeout=MANAGE_TIMEOUT, cwd=host.dir, env=host.env)
    info = json.loads(proc.stdout)
    venv_dir = host.python.parent.parent.resolve()
    package_file = Path(info["file"]).resolve()
    assert Path(info["prefix"]).resolve() == venv_dir, info
    assert package_file.is_relative_to(venv_dir), f"imported from {package_file}, not the venv"
    assert "site-packages" in package_file.parts, package_file
    assert not package_file.is_relative_to(REPO), package_file
    leaks = [p for p in info["path"] if p and Path(p).resolve().is_relative_to(REPO)]
    assert not leaks, f"the repository is on the host's sys.path: {leaks}"


def test_check_passes_without_warnings(host: Host) -> None:
    proc = host.manage("check", "--fail-level", "WARNING")
    assert "System check identified no issues" in proc.stdout, output(proc)


def test_migrate_applies_the_initial_migration(
    migrated_host: tuple[Host, subprocess.CompletedProcess[str]],
) -> None:
    host, proc = migrated_host
    shipped = sorted(path.stem for path in (PACKAGE_DIR / "migrations").glob("0*.py"))
    assert shipped[0] == "0001_initial"
    shown = host.manage("showmigrations", "django_slack_rules")
    for name in shipped:
        assert f"Applying django_slack_rules.{name}... OK" in proc.stdout, output(proc)
        assert f"[X] {name}" in shown.stdout, output(shown)


def test_no_missing_migrations_under_bigautofield(host: Host) -> None:
    proc = host.manage("makemigrations", "--check", "--dry-run", "django_slack_rules", check=False)
    assert proc.returncode == 0, output(proc)
    assert "No changes detected" in proc.stdout, output(proc)


def test_matcher_finds_the_rules_on_both_forms(
    migrated_host: tuple[Host, subprocess.CompletedProcess[str]],
) -> None:
    host, _ = migrated_host
    proc = host.manage("shell", "-c", MATCH_SCRIPT)
    assert "MATCHED db critical" in proc.stdout, output(proc)
    assert "FANNED OUT pager, everything" in proc.stdout, output(proc)


def test_the_storm_status_command_runs_from_the_wheel(
    migrated_host: tuple[Host, subprocess.CompletedProcess[str]],
) -> None:
    host, _ = migrated_host
    proc = host.manage("slack_rules_status", "--all")
    assert proc.stdout.startswith("Pacing: 1 message(s)/s per destination, bursts of 3;"), output(
        proc
    )
    assert "No destination is busy: nothing waits." in proc.stdout, output(proc)


def test_readmes_settings_need_no_gateway_until_deploy(host: Host) -> None:
    """README's snippet reads SLACK_INTERNAL_ENDPOINT with "" as its default: check,
    migrate, test and runserver work without the variable (the host's environment has
    none); check --deploy says it is missing."""
    assert 'os.environ.get("SLACK_INTERNAL_ENDPOINT", "")' in readme_settings()
    proc = host.manage("check", "--deploy", check=False)
    assert proc.returncode != 0, output(proc)
    assert "django_slack_rules.E006" in proc.stdout + proc.stderr, output(proc)


def test_check_reports_a_bad_signal_path(host: Host) -> None:
    proc = host.manage("check", check=False, env={"HOST_SLACK_SIGNAL": "alerts.signals.nope"})
    assert proc.returncode != 0, output(proc)
    assert "django_slack_rules.E001" in proc.stdout + proc.stderr, output(proc)


# -- next to SentryHub's pins ------------------------------------------------------------------

SENTRYHUB_PINS = REPO / "tests" / "requirements" / "sentryhub.txt"


def exact_pins(requirements: Path) -> dict[str, str]:
    """``name==version`` lines of a requirements file, by canonical name."""
    pins = {}
    for line in requirements.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if not line:
            continue
        requirement = Requirement(line)
        for spec in requirement.specifier:
            if spec.operator == "==":
                pins[canonicalize_name(requirement.name)] = spec.version
    return pins


def runs(interpreter: str) -> bool:
    """True when ``interpreter`` starts (a pyenv shim of an inactive version does not)."""
    try:
        done = subprocess.run(
            [interpreter, "-c", "pass"], capture_output=True, timeout=MANAGE_TIMEOUT, check=False
        )
    except OSError:
        return False
    return done.returncode == 0


def find_python(version: str) -> str:
    """An interpreter of Python ``version`` ("3.9"): ``python3.9`` on PATH when it runs, else
    pyenv's installation of it even when pyenv does not have it active (a single-version
    ``pyenv global`` answers "pyenv: python3.9: command not found" through its shim)."""
    candidates = [shutil.which(f"python{version}") or ""]
    pyenv = shutil.which("pyenv")
    if pyenv:
        root = subprocess.run([pyenv, "root"], capture_output=True, text=True, check=False)
        versions = Path(root.stdout.strip() or "~/.pyenv").expanduser() / "versions"
        installed = sorted(
            versions.glob(f"{version}.*/bin/python{version}"),
            key=lambda p: [int(n) for n in p.parent.parent.name.split(".") if n.isdigit()],
        )
        candidates += [str(path) for path in reversed(installed)]
    found = next((c for c in candidates if c and runs(c)), None)
    assert found, (
        f"No Python {version}: SentryHub runs Python 3.9 to 3.12, and this test installs with "
        f"{version}. Put python{version} on PATH, or install it with pyenv "
        f"(pyenv install {version}); it need not be active."
    )
    return found


@pytest.mark.parametrize("python_version", ["3.9"])
def test_the_wheel_installs_next_to_all_of_sentryhubs_pins(
    tmp_path: Path, wheel: Path, wheel_metadata: email.message.Message, python_version: str
) -> None:
    """pip, in a fresh virtualenv of SentryHub's oldest Python, resolves the wheel together
    with every line of SentryHub's requirements.txt: no conflict, and no pin moved. (On 3.11
    the docs' own install commands install it for real, below.)"""
    interpreter = find_python(python_version)
    venv = tmp_path / "sentryhub"
    run([interpreter, "-m", "venv", venv], timeout=INSTALL_TIMEOUT)
    report = tmp_path / "report.json"
    proc = run(
        [
            venv_python(venv), "-m", "pip", "install", "--dry-run", "--ignore-installed",
            "--disable-pip-version-check", "--no-input", "--report", report,
            wheel, "-r", SENTRYHUB_PINS,
        ],
        timeout=INSTALL_TIMEOUT,
        check=False,
    )  # fmt: skip
    assert proc.returncode == 0, "pip found a conflict with SentryHub's pins\n" + output(proc)

    resolved = {
        canonicalize_name(item["metadata"]["name"]): item["metadata"]["version"]
        for item in json.loads(report.read_text())["install"]
    }
    assert resolved.get("django-slack-rules") == wheel_metadata["Version"], output(proc)
    pins = exact_pins(SENTRYHUB_PINS)
    assert {"django", "celery", "redis", "requests", "psycopg2-binary"} <= set(pins)
    moved = {
        name: (pin, resolved.get(name)) for name, pin in pins.items() if resolved.get(name) != pin
    }
    assert not moved, f"pins changed (pinned, resolved): {moved}"
    assert resolved["kombu"].startswith("5.2."), resolved["kombu"]


# -- every install command of the docs, as written, in a fresh virtualenv ----------------------

#: Where the docs tell a user how to install the package.
INSTALL_DOCS = ("README.md", "docs/quickstart.md", "docs/installing.md")
_SH_BLOCK = re.compile(r"^( *)```sh\n(.*?)\n\1```", re.MULTILINE | re.DOTALL)
_TEXT_BLOCK = re.compile(r"^( *)```text\n(.*?)\n\1```", re.MULTILINE | re.DOTALL)

#: Each install command of the docs, and how the test stands in for the user's project.
#: "pins": requirements.txt is SentryHub's pins (the strictest host); "requirements": it is
#: SentryHub's requirements.txt with the docs' added lines (installing.md, step 1).
INSTALL_COMMANDS = {
    "pip install django-slack-rules -c requirements.txt": "pins",
    "pip install ./django-slack-rules -c requirements.txt": "pins",
    "python3 -m pip wheel --no-deps -w dist ./django-slack-rules\n"
    "pip install dist/django_slack_rules-*.whl -c requirements.txt": "pins",
    "pip install -r requirements.txt": "requirements",
}


def doc_blocks(pattern: re.Pattern[str], name: str) -> list[str]:
    """The fenced blocks of ``pattern``'s kind in the doc ``name``, dedented."""
    blocks = []
    for indent, body in pattern.findall((REPO / name).read_text()):
        lines = [line[len(indent) :] for line in body.split("\n")]
        blocks.append("\n".join(lines))
    return blocks


def install_commands() -> dict[str, list[str]]:
    """Every shell block of the install docs that installs something: block -> docs."""
    found: dict[str, list[str]] = {}
    for name in INSTALL_DOCS:
        for block in doc_blocks(_SH_BLOCK, name):
            # The package's own install commands (not README's for tox, the test runner).
            if re.search(r"\bpip (install|wheel)\b", block) and "tox" not in block:
                found.setdefault(block, []).append(name)
    return found


def test_every_install_command_of_the_docs_is_run_here() -> None:
    """README, the quickstart and installing.md say the same, and each way they say to
    install is run by the test below: a changed command fails here until it is tested."""
    found = install_commands()
    assert set(found) == set(INSTALL_COMMANDS), {
        "in the docs, not tested": sorted(set(found) - set(INSTALL_COMMANDS)),
        "tested, in no doc": sorted(set(INSTALL_COMMANDS) - set(found)),
    }
    # The way every doc gives, and the two ways before a release, are in each of them.
    for command in list(INSTALL_COMMANDS)[:3]:
        assert sorted(found[command]) == sorted(INSTALL_DOCS), (command, found[command])


def sentryhub_requirements() -> str:
    """SentryHub's requirements.txt with the lines installing.md adds to it."""
    added = [
        line
        for block in doc_blocks(_TEXT_BLOCK, "docs/installing.md")
        for line in block.splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert added == ["django-slack-rules", "kombu>=5.2.3,<5.3"], added
    return SENTRYHUB_PINS.read_text() + "\n".join(added) + "\n"


def _checkout_copy(target: Path) -> None:
    skipped = {".git", ".venv", ".tox", ".state", "site", "build", "dist", "node_modules"}
    shutil.copytree(
        REPO,
        target,
        ignore=lambda d, names: {
            n for n in names if n in skipped or n.endswith((".egg-info", "_cache", "__pycache__"))
        },
    )


@pytest.mark.parametrize(
    "command", list(INSTALL_COMMANDS), ids=["index", "checkout", "wheel", "requirements"]
)
def test_an_install_command_of_the_docs_works_as_written(
    tmp_path: Path, wheel: Path, wheel_metadata: email.message.Message, command: str
) -> None:
    """The command, pasted into a shell in a project folder with a fresh virtualenv of
    SentryHub's Python 3.11 active: the package installs, SentryHub's pins stay as they
    are, and pip finds nothing broken. The package is not on PyPI yet: pip finds the
    wheel built here by name (PIP_FIND_LINKS), as it will find the release."""
    project = tmp_path / "project"
    project.mkdir()
    if INSTALL_COMMANDS[command] == "requirements":
        (project / "requirements.txt").write_text(sentryhub_requirements())
    else:
        shutil.copy(SENTRYHUB_PINS, project / "requirements.txt")
    if "./django-slack-rules" in command:
        _checkout_copy(project / "django-slack-rules")
    venv = tmp_path / "venv"
    run([find_python("3.11"), "-m", "venv", venv], timeout=INSTALL_TIMEOUT)
    python = venv_python(venv)
    env = {k: v for k, v in os.environ.items() if k not in {"PYTHONPATH", "VIRTUAL_ENV"}}
    env.update(
        PATH=f"{python.parent}{os.pathsep}{env.get('PATH', '')}",
        VIRTUAL_ENV=str(venv),
        PIP_FIND_LINKS=" ".join(filter(None, [env.get("PIP_FIND_LINKS", ""), str(wheel.parent)])),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
    )
    proc = run(
        ["bash", "-euo", "pipefail", "-c", command], timeout=INSTALL_TIMEOUT, cwd=project, env=env
    )
    probe = run(
        [python, "-c", "import django, django_slack_rules.apps; from importlib.metadata import "
         "version; print(django.get_version(), version('django-slack-rules'), version('kombu'))"],
        timeout=MANAGE_TIMEOUT, cwd=project, env=env,
    )  # fmt: skip
    django_version, ours, kombu = probe.stdout.split()
    assert (django_version, ours) == ("4.2.7", wheel_metadata["Version"]), output(proc)
    assert kombu.startswith("5.2."), kombu
    run([python, "-m", "pip", "check"], timeout=MANAGE_TIMEOUT, cwd=project, env=env)
