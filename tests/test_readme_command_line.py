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


def commands(group, prefix=""):
    """(name, command) for every command, a group's subcommands as "group sub"."""
    ctx = click.Context(group)
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        if isinstance(command, click.Group):
            yield from commands(command, f"{prefix}{name} ")
        else:
            yield f"{prefix}{name}", command


def mentioned(opt, usage):
    return any(f"{opt}{end}" in usage + " " for end in (" ", "]", "=", "\n"))


def test_the_readme_lists_every_command_and_each_of_its_options():
    section = command_line_section()
    missing = []
    for name, command in commands(main):
        usage = usage_of(section, name)
        if not usage:
            missing.append(f"command {name}")
            continue
        for param in command.params:
            if not isinstance(param, click.Option) or "--help" in param.opts:
                continue
            # An option counts as listed under its long or its short name.
            if not any(mentioned(opt, usage) for opt in param.opts):
                missing.append(f"{name} {param.opts[0]}")
    assert missing == [], f"README's command line section lacks: {missing}"


def test_the_readme_quick_start_is_exactly_two_commands():
    text = README.read_text()
    start = text.index("## Quick start")
    section = text[start : text.index("\n## ", start + 1)]
    commands = [line for line in section.splitlines() if line.startswith("    ")]
    assert len(commands) == 2
    assert commands[0].strip().endswith("vatrt run bundles/payments.toml")
