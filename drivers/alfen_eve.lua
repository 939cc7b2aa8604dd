-- Alfen Eve (with the "Active Load Balancing" licence, data source = EMS):
-- Modbus TCP, unit 1 (socket 2: unit 2).
--
-- Register map: state HR 1201, 5 registers of ASCII ("A", "B1",
-- "C2", ...). Voltages HR 306 and currents HR 320 (3 x float32, high word
-- first), power HR 344 (float32, W), energy HR 374 (float64, Wh). The limit is
-- HR 1210, float32 A, FC16; 0 disables. The charger drops a limit that is not
-- rewritten within its validity time: the driver rewrites the last limit every
-- 25 s from poll (the documentation recommends a validity of 300 s).

local letters = { A = "free", B = "occupied", C = "charging", D = "charging", E = "unavailable", F = "unavailable" }
local REWRITE_EVERY = 25

return {
  name = "alfen_eve",
  kind = "charger",

  -- Its state is text in HR 1201: "A", "B1", "C2" and so on (IEC 61851).
  identify = function(dev)
    local r = dev:read_holding(1201, 5)
    if not r then return nil end
    if not fusebox.ascii(r, 1, 5):match("^[A-F]%d?$") then return nil end
    return { make = "Alfen", model = "Eve" }
  end,

  poll = function(dev)
    if dev.state.limit ~= nil then
      local ok, err = fusebox.every(dev, "written", REWRITE_EVERY, function()
        return dev:write_registers(1210, fusebox.encode(dev.state.limit, "float32"))
      end)
      if not ok then return nil, err end
    end
    local s, err = dev:read_holding(1201, 5)
    if not s then return nil, err end
    local m, err2 = dev:read_holding(306, 72)          -- HR 306..377
    if not m then return nil, err2 end
    local function f32(at) return fusebox.decode(m, at - 305, "float32") end
    local state = fusebox.ascii(s, 1, 5)
    return {
      status = letters[state:sub(1, 1)] or "unavailable",
      voltage = { f32(306), f32(308), f32(310) },
      current = { f32(320), f32(322), f32(324) },
      power = f32(344),
      energy = fusebox.decode(m, 374 - 305, "float64") / 1000,
    }
  end,

  apply = function(dev, amps)
    local ok, err = dev:write_registers(1210, fusebox.encode(amps, "float32"))
    if not ok then return nil, err end
    dev.state.limit = amps
    dev.state.written = dev.time
    return true
  end,
}
