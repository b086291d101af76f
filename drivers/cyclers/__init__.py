"""Multi-channel battery cyclers: one connection to a host that serves many channels, each
running a whole schedule on the cycler's own firmware."""
