"""``cat-engine proxy-config``: the nginx configuration for several server processes."""

from __future__ import annotations

from pathlib import Path

import click

from cat_engine.cli.common import fail


@click.command("proxy-config")
@click.option("--listen", default="80", show_default=True,
              help="Where nginx listens (port, or address:port).")
@click.option("--server", "servers", multiple=True, required=True,
              help="host:port of one `cat-engine serve` process (repeat for each).")
@click.option("--prefix", type=click.Path(file_okay=False, path_type=Path),
              default=Path("/var/lib/cat-engine-proxy"), show_default=True,
              help="Directory for nginx's pid file, error log and buffers.")
@click.option("--user", help="The user nginx's workers run as (nginx's `user`).")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write the configuration here instead of printing it.")
def proxy_config(listen: str, servers: tuple[str, ...], prefix: Path, user: str | None,
                 output: Path | None) -> None:
    """Print an nginx.conf that routes each session's terminals and consoles to one process.

    Run it with `nginx -c FILE` (docs/deploy.md, "Routing").
    """
    from cat_engine.proxy import nginx_config

    for server in servers:
        host, _, port = server.rpartition(":")
        if not host or not port.isdigit():
            fail(f"--server {server!r}: expected host:port")
    text = nginx_config(listen, list(servers), prefix=str(prefix.resolve()), user=user)
    if output is None:
        click.echo(text, nl=False)
        return
    prefix.mkdir(parents=True, exist_ok=True)
    output.write_text(text)
    click.echo(f"wrote {output}", err=True)
