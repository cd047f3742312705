"""What each stage computes and how it is read back, one module per stage.

Models, predictions, attacks, picks, explanations, subsets, horses, tables, figures and the
benchmark; ``detectors`` loads the run's trained detector for the stages after training.
"""
