"""Hardware behind small interfaces: camera, gate pins, screen; each real and simulated.

Hardware libraries (picamera2, gpiozero's real pin factories, pygame) are imported only when
their driver is opened, so everything imports on any Linux machine.
"""
