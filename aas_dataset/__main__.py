from aas_dataset.cli import app

app()
