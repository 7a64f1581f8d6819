"""The README's command line section lists every command and every option."""

import itertools
from pathlib import Path

import click

from vatrt.cli import main

README = Path(__file__).resolve().parent.parent / "README.md"


def command_line_section():
    text = README.read_text()
    start = text.index("## Command line")
    return text[start : text.index("\n## ", start + 1)]


def usage_of(section, name):
    """Every usage line of `vatrt NAME`, with the indented lines continuing it."""
    lines = section.splitlines()
    block = []
    for i, line in enumerate(lines):
        if line.strip().startswith(f"vatrt {name} "):
            block.append(line)
            block += itertools.takewhile(lambda m: m.startswith(" " * 16), lines[i + 1 :])
    return "\n".join(block)


def test_the_readme_lists_every_command_and_each_of_its_options():
    section = command_line_section()
    ctx = click.Context(main)
    missing = []
    for name in main.list_commands(ctx):
        command = main.get_command(ctx, name)
        usage = usage_of(section, name)
        if not usage:
            missing.append(f"command {name}")
            continue
        for param in command.params:
            for opt in getattr(param, "opts", []) if isinstance(param, click.Option) else []:
                if opt.startswith("--") and f"{opt} " not in usage + " " and f"{opt}]" not in usage:
                    missing.append(f"{name} {opt}")
    assert missing == [], f"README's command line section lacks: {missing}"


def test_the_readme_quick_start_is_exactly_two_commands():
    text = README.read_text()
    start = text.index("## Quick start")
    section = text[start : text.index("\n## ", start + 1)]
    commands = [line for line in section.splitlines() if line.startswith("    ")]
    assert len(commands) == 2
    assert commands[0].strip().endswith("vatrt run bundles/payments.toml")
