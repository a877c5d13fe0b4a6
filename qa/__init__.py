"""The QA catalogue of bad and hostile inputs and faults, encoded as cases that can be rerun.

``qa.cases`` holds the 186 rows (ids as in the catalogue), ``qa.run_catalogue`` reruns and
judges them (``make qa``), ``qa.forkserver`` runs many quick ones from one preloaded process
(the fast subset in ``tests/test_qa_fast.py``).
"""
