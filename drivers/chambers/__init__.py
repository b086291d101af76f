"""Temperature-chamber drivers: ESPEC P-300/SCP-220 (ASCII) and Watlow F4T (Modbus TCP)."""
