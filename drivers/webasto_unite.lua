-- Webasto / Ampure Unite, Vestel EVC04: Modbus TCP, unit 255.
--
-- Register map: IR 1001 == 1 -> charging; IR 1004 (cable state) >= 2
-- -> a car is connected. Currents IR 1008/1010/1012 (uint16 mA), voltages
-- 1014/1016/1018 (V), power IR 1020 (uint32 W), session energy IR 1502 (Wh;
-- read here as uint32, high word first). The limit is HR 5004, uint16 A,
-- written with FC06; 0 disables.
-- Watchdog: write 1 to HR 6000 ("alive") every failsafe/4, where HR 2002 is the
-- charger's failsafe timeout in s (default 5 s, at least 1 s). It is fed from
-- poll, so only while the controller's loop runs.

return {
  name = "webasto_unite",
  kind = "charger",

  init = function(dev)
    local t = dev:read_holding(2002, 1)
    local timeout = t and t[1] or 5
    if timeout < 1 then timeout = 5 end
    dev.state.alive_every = timeout / 4
  end,

  poll = function(dev)
    local fed, ferr = fusebox.every(dev, "fed", dev.state.alive_every or 1.25,
                                    function() return dev:write_register(6000, 1) end)
    if not fed then return nil, ferr end
    local r, err = dev:read_input(1000, 24)        -- IR 1000..1023
    if not r then return nil, err end
    local e, err2 = dev:read_input(1502, 2)
    if not e then return nil, err2 end
    local status = "free"
    if r[2] == 1 then status = "charging"          -- IR 1001
    elseif r[5] >= 2 then status = "occupied" end  -- IR 1004
    return {
      status = status,
      current = { r[9] / 1000, r[11] / 1000, r[13] / 1000 },   -- IR 1008, 1010, 1012
      voltage = { r[15], r[17], r[19] },                        -- IR 1014, 1016, 1018
      power = fusebox.decode(r, 21, "uint32"),                  -- IR 1020
      energy = fusebox.decode(e, 1, "uint32") / 1000,           -- Wh -> kWh
    }
  end,

  apply = function(dev, amps)
    return dev:write_register(5004, math.floor(amps))
  end,
}
