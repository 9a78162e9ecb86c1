"""The application layer: the jobs the scripts run (training, evaluation, input pipelines, export
and serving, clusters) and the command-line plumbing they share.

Importing it changes nothing in the process; `image_classifier.process` configures a script's
process (the scripts call it through `cli.run`).
"""
