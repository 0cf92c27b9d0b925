"""The README's examples run as written (those that need a server, against
`douyu serve`)."""

from __future__ import annotations

import asyncio
import re
import threading
from pathlib import Path

import pytest

README = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
BLOCKS = re.findall(r"```python\n(.*?)```", README, re.S)


def test_the_decoding_example():
    exec(compile(BLOCKS[0], "README.md", "exec"), {})


def test_the_sans_io_example(serve):
    srv = serve(room=288016, rate=200)
    code = BLOCKS[1].replace("8601", str(srv.port))
    # Runs until the server goes away: the session then ends with Closed.
    threading.Timer(1.5, srv.kill).start()
    with pytest.raises(SystemExit, match="peer disconnected"):
        exec(compile(code, "README.md", "exec"), {})


def test_the_asyncio_example(serve, capsys):
    srv = serve(room=288016, rate=200)
    code = BLOCKS[2].replace("8601", str(srv.port)).replace("asyncio.run(main())", "")
    scope: dict = {}
    exec(compile(code, "README.md", "exec"), scope)

    async def bounded():
        try:
            await asyncio.wait_for(scope["main"](), 1.5)
        except asyncio.TimeoutError:
            pass

    asyncio.run(bounded())
    assert capsys.readouterr().out.count("\n") > 10
