-- Alfen Eve over OCPP 1.6J (driver: ocpp_alfen).
--
-- Alfen's stations take their maximum current as the configuration key
-- Station-MaxCurrent (ChangeConfiguration, a decimal text in A), which is how
-- OpenEMS limits them; this file limits them so, instead of a charging
-- profile. (Alfen's smart-charging profiles work too: `driver: ocpp` uses them.)

return {
  name = "ocpp_alfen",
  kind = "ocpp",
  measurands = "Current.Import,Energy.Active.Import.Register",
  sample_interval = 10,
  verify = false,

  -- The call that sets `amps` per phase on `phases` phases.
  limit = function(amps, phases)
    return {
      action = "ChangeConfiguration",
      payload = { key = "Station-MaxCurrent", value = string.format("%.1f", amps) },
    }
  end,
}
