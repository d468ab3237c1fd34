from gantool.cli import run

run()
