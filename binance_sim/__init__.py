"""Binance-compatible exchange simulator (WebSocket market streams + REST).

    from binance_sim import SimulatorServer, SimConfig, run_in_thread, SimControl
"""
from .clock import Clock, ManualClock
from .config import SimConfig, SymbolSpec
from .faults import FaultSpec, SimControl
from .server import SimulatorServer, ThreadedSimulator, run_in_thread

__all__ = ["Clock", "ManualClock", "SimConfig", "SymbolSpec", "FaultSpec", "SimControl",
           "SimulatorServer", "ThreadedSimulator", "run_in_thread"]
