-- ABB Terra AC over OCPP 1.6J (driver: ocpp_abb_terra_ac).
--
-- It refuses a TxDefaultProfile above stack level 0 (reported by evcc's
-- users), so 0 is sent from the start instead of learning it from a refusal.
-- Otherwise as the generic station: amperes, connector 0.

return {
  name = "ocpp_abb_terra_ac",
  kind = "ocpp",
  connector = 0,
  stack_level = 0,
  unit = "A",
  measurands = "Current.Import,Energy.Active.Import.Register",
  sample_interval = 10,
}
