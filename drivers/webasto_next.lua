-- Webasto / Ampure NEXT: Modbus TCP, unit 255, "HEMS activated" on the charger.
--
-- Register map: state HR 1000: 0 = no car, 1 or 4 = connected,
-- 3 = charging, 7 = error. Power HR 1020 and energy HR 1036 (read as uint32,
-- W and Wh, high word first), currents IR 1008/1010/1012 (mA). The limit is
-- HR 5004, uint16 A, written with FC16.
-- Watchdog: the life bit, HR 6000 <- 1, every (HR 2002 s) / 2; fed from poll.

local states = { [0] = "free", [1] = "occupied", [4] = "occupied", [3] = "charging" }

return {
  name = "webasto_next",
  kind = "charger",

  init = function(dev)
    local t = dev:read_holding(2002, 1)
    local timeout = t and t[1] or 10
    if timeout < 1 then timeout = 10 end
    dev.state.life_every = timeout / 2
  end,

  poll = function(dev)
    local fed, ferr = fusebox.every(dev, "fed", dev.state.life_every or 5,
                                    function() return dev:write_register(6000, 1) end)
    if not fed then return nil, ferr end
    local s, err = dev:read_holding(1000, 1)
    if not s then return nil, err end
    local m, err2 = dev:read_holding(1020, 18)      -- HR 1020..1037
    if not m then return nil, err2 end
    local i, err3 = dev:read_input(1008, 5)         -- IR 1008..1012
    if not i then return nil, err3 end
    return {
      status = states[s[1]] or "unavailable",
      current = { i[1] / 1000, i[3] / 1000, i[5] / 1000 },
      power = fusebox.decode(m, 1, "uint32"),
      energy = fusebox.decode(m, 17, "uint32") / 1000,
    }
  end,

  apply = function(dev, amps)
    return dev:write_registers(5004, { math.floor(amps) })
  end,
}
