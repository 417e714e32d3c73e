"""aigenbench: train and evaluate AI-generated image detectors on the AI-GenBench protocol."""

__version__ = "0.1.0"
