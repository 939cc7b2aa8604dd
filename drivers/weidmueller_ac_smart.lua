-- Weidmüller AC Smart: Modbus TCP, unit 255, port 502.
--
-- Register map: state HR 301, the IEC 61851 letter in the low byte.
-- Voltages HR 400 and currents HR 406 (3 x uint32, low word first, / 1000),
-- power HR 418 (uint32 low word first, mW), energy HR 457 (uint64 low word
-- first, Wh; the low two registers suffice for a session). The limit is
-- HR 11052, uint16 A, FC16; 0 disables.
-- Watchdog: the LCM timeout HR 11050 <- 65535 ms (uint32) every 5 s; fed from
-- poll.

local letters = { A = "free", B = "occupied", C = "charging", D = "charging", E = "unavailable", F = "unavailable" }

return {
  name = "weidmueller_ac_smart",
  kind = "charger",

  -- Its state is one letter, A to F, in the low byte of HR 301.
  identify = function(dev)
    local r = dev:read_holding(301, 1)
    if not r or not string.char(r[1] & 0xFF):match("^[A-F]$") then return nil end
    return { make = "Weidmüller", model = "AC Smart" }
  end,

  poll = function(dev)
    local fed, ferr = fusebox.every(dev, "fed", 5, function()
      return dev:write_registers(11050, fusebox.encode(65535, "uint32", "low_first"))
    end)
    if not fed then return nil, ferr end
    local s, err = dev:read_holding(301, 1)
    if not s then return nil, err end
    local m, err2 = dev:read_holding(400, 20)       -- HR 400..419
    if not m then return nil, err2 end
    local e, err3 = dev:read_holding(457, 2)
    if not e then return nil, err3 end
    local function u32(at, scale) return fusebox.decode(m, at - 399, "uint32", "low_first", scale) end
    return {
      status = letters[string.char(s[1] & 0xFF)] or "unavailable",
      voltage = { u32(400, 0.001), u32(402, 0.001), u32(404, 0.001) },
      current = { u32(406, 0.001), u32(408, 0.001), u32(410, 0.001) },
      power = u32(418, 0.001),
      energy = fusebox.decode(e, 1, "uint32", "low_first") / 1000,
    }
  end,

  apply = function(dev, amps)
    return dev:write_registers(11052, { math.floor(amps) })
  end,
}
