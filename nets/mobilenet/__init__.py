"""MobileNet V2, V3 and EdgeTPU, built from one generic op-list library (`mobilenet.py`)."""
