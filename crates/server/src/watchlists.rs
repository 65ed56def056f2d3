//! `checkpost.v1.Watchlists`: upload, activate, roll back and inspect snapshots, apply signed
//! deltas and reload the SOP rules, trust list and visa register, without a restart.
