"""Rescoring n-best lists: the hypotheses a recogniser or a translator found for each utterance,
read in the formats the toolkits write (one module each, registered in formats.py), scored with a
trained model and combined with the decoder's own scores to choose each utterance's 1-best.

Reading needs no torch (nbest.py, the formats, reading.py, settings.py); scoring (rescore.py)
does.
"""
