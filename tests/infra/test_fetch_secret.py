#!/usr/bin/env python3
"""Runs deploy/aws/files/togglemaster-fetch-secret (what the EC2 instance
uses to turn the RDS-managed secret and the admin token secret into
/etc/togglemaster/togglemaster.env, and the TLS secret into the certificate
and key files) against a stub `aws` and a stub `systemctl` in a temporary
directory. The TLS cases use real certificates and keys made with the
openssl command.

Prints `ok - <name>` / `FAIL - <name>: <why>` per check, then
`fetch-secret: N passed, N failed`; exit 1 on any failure.
"""
import grp
import json
import os
import stat
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, "deploy", "aws", "files", "togglemaster-fetch-secret")
ARN = "arn:aws:secretsmanager:sa-east-1:123456789012:secret:rds!db-0f1e2d3c-AbCdEf"
# In another region than TM_AWS_REGION: it must be read from its own.
TLS_ARN = "arn:aws:secretsmanager:us-east-1:123456789012:secret:togglemaster/tls-AbC123"
# The admin token secret (secrets.tf: name_prefix adds 26 characters).
ADMIN_ARN = "arn:aws:secretsmanager:sa-east-1:123456789012:secret:togglemaster/admin-token-20250101000000000000000001-AbCdEf"
ADMIN_VERSION = "togglemaster-admin-token-first-boot"
# Everything that breaks naive quoting: both quotes, $, backslashes,
# backticks, spaces, '#', ';', '=', braces, a command substitution.
NASTY = "p\"a$s`w'o\\rd \\\\ #;=${HOME}$(id)\\n {}!%"

DEPLOY_ENV = f"""# comment
TM_AWS_REGION=sa-east-1
TM_DB_SECRET_ARN={ARN}
PORT=80
BIND=0.0.0.0
LOG_LEVEL=info
DATABASE_URL=
DB_HOST=togglemaster-db.c1a2b3c4d5e6.sa-east-1.rds.amazonaws.com
DB_PORT=5432
DB_NAME=togglemaster
PGSSLMODE=verify-full
PGSSLROOTCERT=/usr/local/share/togglemaster/rds-ca-bundle.pem
"""

results = []


def check(name, cond, why=""):
    results.append((name, bool(cond), why))


def write(path, text, mode=0o644):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)
    os.chmod(path, mode)


class Sandbox:
    def __init__(self, tmp, deploy_env=DEPLOY_ENV, tls_group=None):
        self.tmp = tmp
        self.bin = os.path.join(tmp, "bin")
        os.mkdir(self.bin)
        self.deploy_env = os.path.join(tmp, "deploy.env")
        self.env_file = os.path.join(tmp, "togglemaster.env")
        self.secret = os.path.join(tmp, "secret.json")
        self.tls_secret = os.path.join(tmp, "tls-secret.json")
        self.tls_dir = os.path.join(tmp, "tls")
        self.tls_group = tls_group
        self.calls = os.path.join(tmp, "systemctl.calls")
        self.aws_args = os.path.join(tmp, "aws.args")
        self.aws_calls = os.path.join(tmp, "aws.calls")
        self.admin_secret = os.path.join(tmp, "admin-secret.txt")
        self.puts = os.path.join(tmp, "puts.jsonl")
        self.tmpdir = os.path.join(tmp, "tmpdir")  # TMPDIR of the script
        os.mkdir(self.tmpdir)
        write(self.deploy_env, deploy_env)
        # Stub aws: records its arguments, answers like get-secret-value
        # --output json with secret.json (tls-secret.json for TLS_ARN), or
        # fails when that file is absent. For ADMIN_ARN: admin-secret.txt as
        # it is, ResourceNotFoundException without it (no value yet), or
        # AccessDenied with STUB_ADMIN=denied; put-secret-value reads
        # --secret-string file://PATH into it and records the call in
        # puts.jsonl, or with STUB_PUT=race finds another instance's value
        # stored first, with STUB_PUT=denied is refused.
        write(os.path.join(self.bin, "aws"), f"""#!/usr/bin/env python3
import json, os, stat, sys
args = sys.argv[1:]
open({self.aws_args!r}, "w").write(json.dumps(args))
open({self.aws_calls!r}, "a").write(json.dumps(args) + "\\n")
def fail(code, op):
    sys.stderr.write(f"An error occurred ({{code}}) when calling the {{op}} operation: stub\\n")
    sys.exit(254)
if args[:2] == ["secretsmanager", "put-secret-value"]:
    path = args[args.index("--secret-string") + 1][len("file://"):]
    st = os.stat(path)
    value = open(path).read()
    open({self.puts!r}, "a").write(json.dumps({{"args": args, "mode": stat.S_IMODE(st.st_mode), "value": value}}) + "\\n")
    mode = os.environ.get("STUB_PUT", "ok")
    if mode == "denied":
        fail("AccessDeniedException", "PutSecretValue")
    if mode == "race" or os.path.exists({self.admin_secret!r}):
        if not os.path.exists({self.admin_secret!r}):
            open({self.admin_secret!r}, "w").write("stored-by-another-instance-0123456789")
        fail("ResourceExistsException", "PutSecretValue")
    open({self.admin_secret!r}, "w").write(value)
    print(json.dumps({{"ARN": {ADMIN_ARN!r}, "VersionId": args[args.index("--client-request-token") + 1]}}))
    sys.exit(0)
if {ADMIN_ARN!r} in args:
    if os.environ.get("STUB_ADMIN") == "denied":
        fail("AccessDeniedException", "GetSecretValue")
    try:
        secret = open({self.admin_secret!r}).read()
    except OSError:
        sys.stderr.write("An error occurred (ResourceNotFoundException) when calling the GetSecretValue operation: "
                         "Secrets Manager can't find the specified secret value for staging label: AWSCURRENT\\n")
        sys.exit(254)
    print(json.dumps({{"ARN": {ADMIN_ARN!r}, "VersionId": "a-1", "SecretString": secret}}))
    sys.exit(0)
tls = {TLS_ARN!r} in args
try:
    secret = open({self.tls_secret!r} if tls else {self.secret!r}).read()
except OSError:
    fail("AccessDeniedException", "GetSecretValue")
print(json.dumps({{"ARN": {ARN!r}, "Name": "rds!db", "VersionId": "v-123", "SecretString": secret}}))
""", 0o755)
        write(os.path.join(self.bin, "systemctl"), f"""#!/bin/sh
echo "$*" >> {self.calls!r}
case "$*" in *is-active*) exit "${{STUB_ACTIVE:-3}}" ;; esac
exit 0
""", 0o755)

    def set_secret(self, user, password):
        write(self.secret, json.dumps({"username": user, "password": password}))

    def set_tls(self, cert, key):
        write(self.tls_secret, json.dumps({"certificate": cert, "private_key": key}))

    def run(self, active=False, extra=None):
        env = dict(os.environ, PATH=f"{self.bin}:{os.environ['PATH']}", TM_DEPLOY_ENV=self.deploy_env,
                   TM_ENV_FILE=self.env_file, TM_FETCH_ATTEMPTS="1", STUB_ACTIVE="0" if active else "3",
                   TM_TLS_DIR=self.tls_dir, TMPDIR=self.tmpdir)
        if self.tls_group:
            env["TM_TLS_GROUP"] = self.tls_group
        env.update(extra or {})
        for log in (self.calls, self.aws_calls):
            if os.path.exists(log):
                os.unlink(log)
        return subprocess.run([sys.executable, SCRIPT], env=env, capture_output=True, text=True, timeout=30)

    def puts_made(self):
        try:
            return [json.loads(line) for line in open(self.puts)]
        except OSError:
            return []

    def aws_calls_made(self):
        try:
            return [json.loads(line) for line in open(self.aws_calls)]
        except OSError:
            return []

    def tls_files(self):
        """(bytes, mode, gid, mtime) of the certificate and the key, or None."""
        out = []
        for name in ("fullchain.pem", "privkey.pem"):
            path = os.path.join(self.tls_dir, name)
            if not os.path.exists(path):
                return None
            st = os.stat(path)
            out.append((open(path).read(), stat.S_IMODE(st.st_mode), st.st_gid, st.st_mtime_ns))
        return out

    def systemctl_calls(self):
        try:
            return open(self.calls).read().splitlines()
        except OSError:
            return []

    def shell_value(self, name):
        """The variable as a shell reads the env file (`set -a; . file`)."""
        out = subprocess.run(["bash", "-c", f'set -a; . "$1"; printf %s "${name}"', "-", self.env_file],
                             capture_output=True, text=True, env={"PATH": os.environ["PATH"]})
        return out.stdout if out.returncode == 0 else None


def main():
    with tempfile.TemporaryDirectory() as tmp:
        sb = Sandbox(tmp)
        sb.set_secret("togglemaster", NASTY)

        r = sb.run()
        check("writes the env file from deploy.env and the secret", r.returncode == 0 and os.path.exists(sb.env_file),
              f"exit {r.returncode}: {r.stdout}{r.stderr}")
        if not os.path.exists(sb.env_file):
            return
        text = open(sb.env_file).read()
        args = json.loads(open(sb.aws_args).read())
        check("asks Secrets Manager for the configured ARN in the configured region",
              args[:2] == ["secretsmanager", "get-secret-value"] and "--secret-id" in args and
              args[args.index("--secret-id") + 1] == ARN and args[args.index("--region") + 1] == "sa-east-1", args)
        check("env file is mode 0600", stat.S_IMODE(os.stat(sb.env_file).st_mode) == 0o600,
              oct(os.stat(sb.env_file).st_mode))
        check("password round-trips through a shell's `.` unchanged", sb.shell_value("DB_PASSWORD") == NASTY,
              repr(sb.shell_value("DB_PASSWORD")))
        check("settings copied, TM_ keys not", sb.shell_value("DB_HOST").endswith(".rds.amazonaws.com") and
              sb.shell_value("PORT") == "80" and sb.shell_value("PGSSLMODE") == "verify-full" and
              sb.shell_value("DB_USER") == "togglemaster" and "TM_AWS_REGION" not in text, text)
        check("DATABASE_URL written empty (so DB_* apply)", "\nDATABASE_URL=\n" in text, text)
        check("the password is never printed", NASTY not in r.stdout + r.stderr and "p\"a$s" not in r.stdout + r.stderr)
        check("no restart when the service is not running", not any("try-restart" in c for c in sb.systemctl_calls()),
              sb.systemctl_calls())

        before = os.stat(sb.env_file).st_mtime_ns
        r = sb.run(active=True)
        check("unchanged secret: file untouched, no restart",
              r.returncode == 0 and os.stat(sb.env_file).st_mtime_ns == before and
              not any("try-restart" in c for c in sb.systemctl_calls()), f"{r.stdout}{sb.systemctl_calls()}")

        sb.set_secret("togglemaster", "rotated-Password-2")
        r = sb.run(active=True)
        check("rotated secret: file rewritten, running service restarted without blocking",
              r.returncode == 0 and sb.shell_value("DB_PASSWORD") == "rotated-Password-2" and
              "--no-block try-restart togglemaster.service" in sb.systemctl_calls(), f"{r.stdout}{sb.systemctl_calls()}")

        os.unlink(sb.secret)
        saved = open(sb.env_file).read()
        r = sb.run(active=True)
        check("AWS error: exit 1, previous file kept",
              r.returncode == 1 and open(sb.env_file).read() == saved and "AccessDenied" in r.stdout,
              f"exit {r.returncode}: {r.stdout}")

        sb.set_secret("togglemaster", "two\nlines")
        r = sb.run()
        check("a value with a newline is refused, previous file kept",
              r.returncode == 1 and open(sb.env_file).read() == saved, f"exit {r.returncode}: {r.stdout}")

        write(sb.secret, "not json")
        r = sb.run()
        check("malformed secret: exit 1 without echoing it", r.returncode == 1 and "not json" not in r.stdout + r.stderr,
              r.stdout + r.stderr)

        sb.set_secret("togglemaster", "x")
        write(sb.deploy_env, DEPLOY_ENV.replace(f"TM_DB_SECRET_ARN={ARN}\n", ""))
        r = sb.run()
        check("missing TM_DB_SECRET_ARN: exit 1", r.returncode == 1 and "TM_DB_SECRET_ARN" in r.stdout, r.stdout)

        write(sb.deploy_env, 'TM_AWS_REGION="sa-east-1"\nTM_DB_SECRET_ARN=\'%s\'\nLOG_LEVEL="de\\"bug"\nDB_HOST=h\n' % ARN)
        r = sb.run()
        check("deploy.env quoted values are understood",
              r.returncode == 0 and sb.shell_value("LOG_LEVEL") == 'de"bug', f"{r.stdout}{sb.shell_value('LOG_LEVEL')!r}")
        check("without TM_TLS_SECRET_ARN: no TLS_* lines, no TLS secret read, no TLS directory",
              "TLS_" not in open(sb.env_file).read() and not os.path.exists(sb.tls_dir) and
              all(TLS_ARN not in call for call in sb.aws_calls_made()), open(sb.env_file).read())
        check("without TM_ADMIN_SECRET_ARN: no ADMIN_TOKEN line, no admin secret read or written",
              "ADMIN_TOKEN" not in open(sb.env_file).read() and not sb.puts_made() and
              all(ADMIN_ARN not in call for call in sb.aws_calls_made()), open(sb.env_file).read())

    with tempfile.TemporaryDirectory() as tmp:
        tls_cases(tmp)
    with tempfile.TemporaryDirectory() as tmp:
        admin_cases(tmp)


def make_pair(tmp, name, encrypt=False):
    """A self-signed certificate and its key (PEM texts), by openssl."""
    cert, key = os.path.join(tmp, f"{name}.crt"), os.path.join(tmp, f"{name}.key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "30", "-subj", "/CN=flags.example.com"],
                   check=True, capture_output=True)
    if encrypt:
        subprocess.run(["openssl", "pkcs8", "-topk8", "-v2", "aes256", "-in", key, "-out", key + ".enc",
                        "-passout", "pass:secret"], check=True, capture_output=True)
        key += ".enc"
    return open(cert).read(), open(key).read()


def key_lines(*keys):
    """The base64 lines of private keys: none may ever be printed."""
    return [line for key in keys for line in key.splitlines() if len(line) > 16 and "-----" not in line]


def tls_cases(tmp):
    cert_a, key_a = make_pair(tmp, "a")
    cert_b, key_b = make_pair(tmp, "b")
    _, key_enc = make_pair(tmp, "c", encrypt=True)
    secret_lines = key_lines(key_a, key_b, key_enc)
    printed = []

    # The files' group: one this process may chown to and, as root, not its own.
    group = grp.getgrgid(os.getegid()).gr_name
    if os.geteuid() == 0:
        try:
            group = grp.getgrnam("nogroup").gr_name
        except KeyError:
            pass
    gid = grp.getgrnam(group).gr_gid
    deploy_env = DEPLOY_ENV.replace("PORT=80\n", "PORT=443\n") + f"TM_TLS_SECRET_ARN={TLS_ARN}\n"
    os.mkdir(os.path.join(tmp, "sb"))
    sb = Sandbox(os.path.join(tmp, "sb"), deploy_env, tls_group=group)
    sb.set_secret("togglemaster", "pw-1")

    def run(**kw):
        r = sb.run(**kw)
        printed.append(r.stdout + r.stderr)
        return r

    cert_path, key_path = os.path.join(sb.tls_dir, "fullchain.pem"), os.path.join(sb.tls_dir, "privkey.pem")

    # First run, no certificate yet, and a refused secret: nothing written.
    sb.set_tls(cert_a, key_b)
    r = run()
    check("TLS: first run with a refused secret: exit 1, no env file, no certificate files",
          r.returncode == 1 and not os.path.exists(sb.env_file) and sb.tls_files() is None and "refused" in r.stdout,
          f"exit {r.returncode}: {r.stdout}")

    sb.set_tls(cert_a, key_a)
    r = run()
    files = sb.tls_files()
    check("TLS: certificate and key written, 0640 in a 0750 directory, group of the service",
          r.returncode == 0 and files is not None and
          [(f[0], f[1], f[2]) for f in files] == [(cert_a, 0o640, gid), (key_a, 0o640, gid)] and
          stat.S_IMODE(os.stat(sb.tls_dir).st_mode) == 0o750 and os.stat(sb.tls_dir).st_gid == gid,
          f"exit {r.returncode}: {r.stdout} {files and [(oct(f[1]), f[2]) for f in files]}")
    if files is None:
        return
    check("TLS: env file has TLS_CERT_FILE and TLS_KEY_FILE naming them, PORT=443 from deploy.env",
          sb.shell_value("TLS_CERT_FILE") == cert_path and sb.shell_value("TLS_KEY_FILE") == key_path and
          sb.shell_value("PORT") == "443" and "TM_TLS_SECRET_ARN" not in open(sb.env_file).read() and
          sb.shell_value("DB_PASSWORD") == "pw-1", open(sb.env_file).read())
    calls = sb.aws_calls_made()
    tls_call = [c for c in calls if TLS_ARN in c]
    check("TLS: the TLS secret is read by its ARN, in its own region",
          len(tls_call) == 1 and tls_call[0][tls_call[0].index("--region") + 1] == "us-east-1", calls)
    check("TLS: env file still mode 0600", stat.S_IMODE(os.stat(sb.env_file).st_mode) == 0o600)

    env_mtime = os.stat(sb.env_file).st_mtime_ns
    r = run(active=True)
    check("TLS: nothing changed: files untouched, no reload, no restart",
          r.returncode == 0 and sb.tls_files() == files and os.stat(sb.env_file).st_mtime_ns == env_mtime and
          not any("reload" in c or "restart" in c for c in sb.systemctl_calls()), f"{r.stdout}{sb.systemctl_calls()}")

    sb.set_tls(cert_b, key_b)
    r = run(active=True)
    files = sb.tls_files()
    check("TLS: renewed certificate: running service reloaded without blocking, not restarted",
          r.returncode == 0 and files[0][0] == cert_b and files[1][0] == key_b and
          os.stat(sb.env_file).st_mtime_ns == env_mtime and
          "--no-block reload togglemaster.service" in sb.systemctl_calls() and
          not any("restart" in c for c in sb.systemctl_calls()), f"{r.stdout}{sb.systemctl_calls()}")

    sb.set_tls(cert_a, key_a)
    r = run(active=False)
    check("TLS: renewed certificate, service not running: written, nothing reloaded",
          r.returncode == 0 and sb.tls_files()[0][0] == cert_a and
          not any("reload" in c or "restart" in c for c in sb.systemctl_calls()), f"{r.stdout}{sb.systemctl_calls()}")

    sb.set_tls(cert_b, key_b)
    sb.set_secret("togglemaster", "pw-2")
    r = run(active=True)
    check("TLS: renewed certificate and rotated password: one restart, no reload",
          r.returncode == 0 and sb.tls_files()[0][0] == cert_b and sb.shell_value("DB_PASSWORD") == "pw-2" and
          "--no-block try-restart togglemaster.service" in sb.systemctl_calls() and
          not any(" reload " in f" {c} " for c in sb.systemctl_calls()), f"{r.stdout}{sb.systemctl_calls()}")

    files = sb.tls_files()
    env_text = open(sb.env_file).read()
    for name, secret in [
        ("certificate and key swapped", json.dumps({"certificate": key_a, "private_key": cert_a})),
        ("key of another certificate", json.dumps({"certificate": cert_a, "private_key": key_b})),
        ("encrypted key", json.dumps({"certificate": cert_a, "private_key": key_enc})),
        ("certificate not PEM", json.dumps({"certificate": "hello", "private_key": key_a})),
        ("certificate holding the key too", json.dumps({"certificate": cert_a + key_a, "private_key": key_a})),
        ("no private_key", json.dumps({"certificate": cert_a})),
        ("not JSON", "certificate=" + cert_a + key_a),
    ]:
        write(sb.tls_secret, secret)
        r = run(active=True)
        check(f"TLS: malformed secret ({name}) refused: exit 1, old files kept, nothing reloaded",
              r.returncode == 1 and sb.tls_files() == files and open(sb.env_file).read() == env_text and
              not any("reload" in c or "restart" in c for c in sb.systemctl_calls()),
              f"exit {r.returncode}: {r.stdout}{sb.systemctl_calls()}")

    sb.set_tls(cert_a, key_b)
    sb.set_secret("togglemaster", "pw-3")
    r = run(active=True)
    check("TLS: refused secret with a rotated password: env file rewritten and restart queued, exit 1",
          r.returncode == 1 and sb.tls_files() == files and sb.shell_value("DB_PASSWORD") == "pw-3" and
          sb.shell_value("TLS_CERT_FILE") == cert_path and
          "--no-block try-restart togglemaster.service" in sb.systemctl_calls(), f"exit {r.returncode}: {r.stdout}")

    # Before the package has created the service's group: root-only files,
    # then the group on the next run.
    sb.set_tls(cert_a, key_a)
    r = run(extra={"TM_TLS_GROUP": "tm-no-such-group"})
    own = os.getegid()
    check("TLS: group missing: exit 0, files in the process's own group, said so",
          r.returncode == 0 and [f[2] for f in sb.tls_files()] == [own, own] and "tm-no-such-group" in r.stdout,
          f"exit {r.returncode}: {r.stdout}")
    os.chmod(sb.tls_dir, 0o755)
    r = run(active=True)
    check("TLS: group present again: files and directory (0750 again) back in it, reloaded when it changed",
          r.returncode == 0 and [f[2] for f in sb.tls_files()] == [gid, gid] and os.stat(sb.tls_dir).st_gid == gid and
          stat.S_IMODE(os.stat(sb.tls_dir).st_mode) == 0o750 and
          (own == gid or "--no-block reload togglemaster.service" in sb.systemctl_calls()),
          f"exit {r.returncode}: {r.stdout}{sb.systemctl_calls()}")

    leaked = [line for line in secret_lines if any(line in out for out in printed)]
    check("TLS: no private key material is ever printed", not leaked and len(printed) > 10, f"{len(leaked)} key lines")
    check("TLS: no temporary files left behind", sorted(os.listdir(sb.tls_dir)) == ["fullchain.pem", "privkey.pem"],
          os.listdir(sb.tls_dir))


def admin_cases(tmp):
    # deploy.env as the user data writes it, plus an ADMIN_TOKEN line that
    # must not win over the secret.
    deploy_env = DEPLOY_ENV + f"TM_ADMIN_SECRET_ARN={ADMIN_ARN}\nAUTH_REQUIRED=true\nADMIN_TOKEN=from-deploy-env-0123456789\n"
    os.mkdir(os.path.join(tmp, "sb"))
    sb = Sandbox(os.path.join(tmp, "sb"), deploy_env)
    sb.set_secret("togglemaster", "pw-1")
    printed = []

    def run(**kw):
        r = sb.run(**kw)
        printed.append(r.stdout + r.stderr)
        return r

    def stored():
        return open(sb.admin_secret).read() if os.path.exists(sb.admin_secret) else None

    def on_command_line(value):
        return any(value in arg for call in sb.aws_calls_made() for arg in call)

    def no_tmp_left():
        return os.listdir(sb.tmpdir) == []

    # First boot: the secret has no value yet.
    r = run()
    token = stored()
    puts = sb.puts_made()
    check("admin: empty secret: a token is generated and stored once, exit 0",
          r.returncode == 0 and token is not None and len(puts) == 1, f"exit {r.returncode}: {r.stdout} {len(puts)} puts")
    if token is None or not puts:
        return
    args = puts[0]["args"]
    check("admin: stored with put-secret-value on the ARN, its region, the fixed version id",
          args[args.index("--secret-id") + 1] == ADMIN_ARN and args[args.index("--region") + 1] == "sa-east-1" and
          args[args.index("--client-request-token") + 1] == ADMIN_VERSION, args)
    check("admin: generated token: 43 base64url characters (32 random bytes)",
          len(token) == 43 and all(c.isalnum() or c in "-_" for c in token), f"{len(token)} characters")
    check("admin: the token goes to AWS through a 0600 temporary file, never on a command line, file removed",
          args[args.index("--secret-string") + 1].startswith("file://") and puts[0]["mode"] == 0o600 and
          not on_command_line(token) and no_tmp_left(), f"{args} mode {oct(puts[0]['mode'])} {os.listdir(sb.tmpdir)}")
    check("admin: env file: ADMIN_TOKEN is the stored token, AUTH_REQUIRED=true, deploy.env's ADMIN_TOKEN ignored",
          sb.shell_value("ADMIN_TOKEN") == token and sb.shell_value("AUTH_REQUIRED") == "true" and
          "from-deploy-env" not in open(sb.env_file).read() and "TM_ADMIN_SECRET_ARN" not in open(sb.env_file).read(),
          open(sb.env_file).read().replace(token, "<token>"))
    check("admin: env file still mode 0600", stat.S_IMODE(os.stat(sb.env_file).st_mode) == 0o600)

    mtime = os.stat(sb.env_file).st_mtime_ns
    r = run(active=True)
    check("admin: next run: read, not generated again; file untouched, no restart",
          r.returncode == 0 and len(sb.puts_made()) == 1 and stored() == token and
          os.stat(sb.env_file).st_mtime_ns == mtime and not any("restart" in c for c in sb.systemctl_calls()),
          f"{r.stdout}{sb.systemctl_calls()}")

    # Rotation by the operator: a new value in the secret, with every
    # character that needs quoting.
    rotated = "r0tated\"t$ok`en\\'#;{}=%!\u00e9"
    write(sb.admin_secret, rotated)
    r = run(active=True)
    check("admin: rotated token: env file rewritten (round-trips through a shell's `.`), restart queued",
          r.returncode == 0 and sb.shell_value("ADMIN_TOKEN") == rotated and
          "--no-block try-restart togglemaster.service" in sb.systemctl_calls() and len(sb.puts_made()) == 1,
          f"{r.stdout}{sb.shell_value('ADMIN_TOKEN')!r}")
    write(sb.admin_secret, "\u00e9" * 8)  # 16 bytes in 8 characters: the service counts bytes
    r = run()
    check("admin: 16 bytes of UTF-8 are accepted", r.returncode == 0 and sb.shell_value("ADMIN_TOKEN") == "\u00e9" * 8,
          r.stdout)
    write(sb.admin_secret, rotated)
    run()

    # Values the service would refuse: the token in the env file stays.
    saved = open(sb.env_file).read()
    for name, value in [("15 bytes", "x" * 15), ("a blank", "has a blank-0123456789"),
                        ("a newline at the end", "token-0123456789abcdef\n"), ("a tab", "token\t0123456789abcdef"),
                        ("empty", "")]:
        write(sb.admin_secret, value)
        r = run(active=True)
        check(f"admin: refused value ({name}): exit 1, env file and its token kept, no restart",
              r.returncode == 1 and open(sb.env_file).read() == saved and "refused" in r.stdout and
              not any("restart" in c for c in sb.systemctl_calls()) and len(sb.puts_made()) == 1,
              f"exit {r.returncode}: {r.stdout}")

    sb.set_secret("togglemaster", "pw-2")
    r = run(active=True)
    check("admin: refused value and a rotated password: env file rewritten with the old token, restart, exit 1",
          r.returncode == 1 and sb.shell_value("DB_PASSWORD") == "pw-2" and sb.shell_value("ADMIN_TOKEN") == rotated and
          "--no-block try-restart togglemaster.service" in sb.systemctl_calls(), f"exit {r.returncode}: {r.stdout}")

    write(sb.admin_secret, "a-good-new-token-0123456789")
    saved = open(sb.env_file).read()
    r = run(active=True, extra={"STUB_ADMIN": "denied"})
    check("admin: secret unreadable (AccessDenied): exit 1, token kept, nothing generated",
          r.returncode == 1 and open(sb.env_file).read() == saved and len(sb.puts_made()) == 1 and
          "AccessDenied" in r.stdout, f"exit {r.returncode}: {r.stdout}")

    # First boots that go wrong, each in a fresh sandbox.
    for case, stub_put in [("race", "race"), ("put-denied", "denied")]:
        os.mkdir(os.path.join(tmp, case))
        sb = Sandbox(os.path.join(tmp, case), deploy_env)
        sb.set_secret("togglemaster", "pw-1")
        r = run(extra={"STUB_PUT": stub_put})
        if case == "race":
            check("admin: another instance stored its token first: that one is used, exit 0",
                  r.returncode == 0 and sb.shell_value("ADMIN_TOKEN") == "stored-by-another-instance-0123456789" and
                  len(sb.puts_made()) == 1, f"exit {r.returncode}: {r.stdout}")
        else:
            check("admin: the generated token cannot be stored: exit 1, no env file written",
                  r.returncode == 1 and not os.path.exists(sb.env_file) and len(sb.puts_made()) == 1,
                  f"exit {r.returncode}: {r.stdout}")
        generated = [p["value"] for p in sb.puts_made()]
        check(f"admin: {case}: the generated token is never printed nor on a command line, temporary file removed",
              generated and not any(v in out for v in generated for out in printed) and
              not any(on_command_line(v) for v in generated) and no_tmp_left(), os.listdir(sb.tmpdir))

    # Every token this test stored or generated, against everything printed.
    tokens = [token, rotated, "a-good-new-token-0123456789", "stored-by-another-instance-0123456789"]
    leaked = [t for t in tokens if any(t in out for out in printed)]
    check("admin: no token is ever printed", not leaked and len(printed) > 10, f"{len(leaked)} leaked")


if __name__ == "__main__":
    try:
        main()
    except Exception as err:  # a crash is a failure, not a silent pass
        results.append(("fetch-secret test harness", False, f"{type(err).__name__}: {err}"))
    failed = 0
    for name, ok, why in results:
        print(f"ok - {name}" if ok else f"FAIL - {name}: {why}")
        failed += not ok
    print(f"fetch-secret: {len(results) - failed} passed, {failed} failed")
    sys.exit(1 if failed or not results else 0)
