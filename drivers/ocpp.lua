-- Any OCPP 1.6J station (driver: ocpp). The station connects to the box; this
-- file says only how it wants its limit and its readings (docs/ocpp.md).
--
-- The limit goes out as a TxDefaultProfile, absolute, on `connector` (0: the
-- whole station). Stack level 1 comes first, above a default profile at 0
-- that a station may carry from its factory or an earlier backend; a station
-- that refuses it gets 0, and one that refuses amperes gets watts (A x 230 V x
-- phases). What it took is kept for its next limits.

return {
  name = "ocpp",
  kind = "ocpp",
  connector = 0,
  stack_level = 1,
  unit = "A",
  -- Only the default profile: a TxProfile also during a transaction is for
  -- stations that ignore the default while they charge.
  tx_profile = false,
  -- Asked of it at each connection (ChangeConfiguration); a station that
  -- refuses keeps sending what it sends, and Fusebox reads what comes.
  measurands = "Current.Import,Energy.Active.Import.Register",
  sample_interval = 10,
  -- After each profile, GetCompositeSchedule: a station that took it but
  -- plans more has not applied it. Not asked again of one that cannot say.
  verify = true,
  -- On each connection, ClearChargingProfile of its default profiles before
  -- Fusebox's own: one left at a higher stack level by an earlier central
  -- system would stay in force above it. (Not behind a billing backend.)
  clear_profiles = true,
}
