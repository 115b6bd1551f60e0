"""``cat-engine serve``: run a test site (one process serves every terminal of a site)."""

from __future__ import annotations

from pathlib import Path

import click

from cat_engine.cli.common import KeySource, fail, key_options


@click.command()
@click.option("--data-dir", type=click.Path(file_okay=False, path_type=Path),
              default=Path("cat-engine-data"), show_default=True,
              help="Where the SQLite database, secrets and demo files live.")
@click.option("--host", default=None,
              help="Address to listen on: the test room's network (default 0.0.0.0, every "
                   "interface); with --demo 127.0.0.1, since the demo prints its passwords.")
@click.option("--port", type=click.IntRange(1, 65535), default=5000, show_default=True,
              help="TCP port of the terminals, the proctor console and the public board.")
@click.option("--database-url", help="Any SQLAlchemy URL (e.g. postgresql+psycopg://...).")
@click.option("--message-queue", help="redis://... to run several server processes together.")
@click.option("--async-mode", type=click.Choice(["gevent", "threading", "eventlet"]),
              default="gevent", show_default=True, help="Concurrency model (see operations).")
@click.option("--demo", is_flag=True, help="Create (once) and run the demo site (opens "
              "banks of any issuer: --allow-untrusted-banks).")
@click.option("--allow-untrusted-banks", is_flag=True,
              help="Open banks of any issuer, unsigned ones too: development and demo only. "
                   "Otherwise only issuers added with 'cat-engine keys trust'.")
@click.option("--secure-cookies", is_flag=True, default=None,
              help="Send the console's cookie over HTTPS only (a site behind TLS).")
@click.option("--trust-proxy", type=click.IntRange(0, 5), default=None,
              help="Number of reverse proxies whose X-Forwarded-For gives the terminal's "
                   "address (default 0: none).")
@key_options
def serve(data_dir: Path, host: str | None, port: int, database_url: str | None,
          message_queue: str | None, async_mode: str, demo: bool,
          allow_untrusted_banks: bool, secure_cookies: bool | None,
          trust_proxy: int | None, keys: KeySource) -> None:
    """Run the exam server: terminals, live scores and the scheduler that keeps time."""
    if host is None:
        host = "127.0.0.1" if demo else "0.0.0.0"
    if async_mode == "gevent":
        # Before anything opens sockets or threads: make the standard library cooperative.
        from gevent import monkey

        monkey.patch_all()
    elif async_mode == "eventlet":
        try:
            import eventlet
        except ImportError:
            fail("async mode eventlet needs the eventlet package (pip install eventlet)")
        eventlet.monkey_patch()

    config = {"DATA_DIR": str(data_dir), "DATABASE_URL": database_url,
              "MESSAGE_QUEUE": message_queue, "ASYNC_MODE": async_mode,
              "BANK_PASSPHRASE": keys.passphrase, "BANK_SITE_KEY": keys.site_key_path}
    # Given only when set, so CAT_ENGINE_COOKIE_SECURE / CAT_ENGINE_TRUST_PROXY still apply.
    if secure_cookies:
        config["COOKIE_SECURE"] = True
    if trust_proxy is not None:
        config["TRUST_PROXY"] = trust_proxy
    if allow_untrusted_banks or demo:
        config["ALLOW_UNTRUSTED_BANKS"] = True
    from cat_engine import site_secret
    from cat_engine.store import Store

    demo_site = None
    if demo:
        from cat_engine.demo import prepare_demo

        data_dir.mkdir(parents=True, exist_ok=True)
        url = database_url or f"sqlite:///{data_dir.resolve() / 'cat-engine.sqlite3'}"
        try:
            site_secret.load(data_dir)
            store = Store(url)
            demo_site = prepare_demo(data_dir, store)
            store.close()
        except Exception as exc:  # a fresh machine must get a sentence, not a traceback
            fail(f"could not prepare the demo site in {data_dir}: {exc}")
        config["BANK_PASSPHRASE"] = demo_site.passphrase

    from cat_engine.app import create_app, socketio

    try:
        app = create_app(config)
    except Exception as exc:
        fail(f"cannot start: {exc}")
    shown_host = "127.0.0.1" if host in ("0.0.0.0", "::") else host
    base = f"http://{shown_host}:{port}"
    if demo_site is not None:
        from cat_engine.demo import banner

        click.echo(banner(demo_site, base))
    click.echo(f"cat-engine serving on {base} (data in {app.config['DATA_DIR']}, "
               f"{async_mode})", err=True)
    if app.config["ALLOW_UNTRUSTED_BANKS"]:
        click.echo("WARNING: banks of any issuer, unsigned ones too, are opened "
                   "(--allow-untrusted-banks): for development and the demo only", err=True)
    else:
        from cat_engine.services.trust import trusted_issuers

        issuers = trusted_issuers(Path(app.config["DATA_DIR"]))
        click.echo(f"banks open only if signed by a trusted issuer ({len(issuers)} in "
                   f"{Path(app.config['DATA_DIR']) / 'trusted-issuers'})", err=True)
    stopped: list[str] = []
    _stop_on_signals(async_mode, socketio, stopped)
    try:
        from cat_engine.tuning import run_options

        socketio.run(app, host=host, port=port, log_output=False,
                     allow_unsafe_werkzeug=async_mode == "threading", **run_options(async_mode))
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}")
    except Stop:
        pass
    finally:
        app.extensions["cat_engine"].store.close()
    click.echo("cat-engine stopped", err=True)


class Stop(BaseException):
    """SIGTERM or SIGINT under threads: leave the serving loop and shut down cleanly."""


def _stop_on_signals(async_mode: str, socketio, stopped: list[str]) -> None:
    """SIGTERM (systemd, docker stop, kill) and Ctrl-C end the server with a word and a
    clean close of the store, instead of a silent death."""
    import signal

    def say(number: int) -> bool:
        if stopped:  # a second signal while stopping: let it be
            return False
        stopped.append(signal.Signals(number).name)
        click.echo(f"cat-engine: {stopped[0]} received, stopping: no new connections; "
                   "every answer a terminal was told is saved is in the database", err=True)
        return True

    if async_mode == "gevent":
        import gevent

        def on_signal(number: int) -> None:
            if say(number):  # the server's own stop: serve_forever returns, run() too
                gevent.spawn(socketio.wsgi_server.stop, timeout=2)

        for number in (signal.SIGTERM, signal.SIGINT):
            gevent.signal_handler(number, on_signal, number)
        return

    def stop(number, _frame):
        if say(number):
            raise Stop

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
