-- Phoenix Contact EV-CC-...-ETH controllers (also Wallbe, ESL Walli, Compleo):
-- Modbus TCP, unit 255, DIP switch 10 on.
--
-- Register map: state IR 100, the IEC 61851 letter (A to F).
-- Voltages IR 108 and currents IR 114 (3 x int32, low word first), power IR 120
-- (int32 low word first, W), energy HR 904 (uint32 low word first, Wh).
-- The limit is HR 528, uint16 A, FC06; Wallbe's extended firmware (HR 528 reads
-- 60 or more) takes 0.1 A. Charging is enabled with coil 400 (FC05). No watchdog.

local letters = { A = "free", B = "occupied", C = "charging", D = "charging", E = "unavailable", F = "unavailable" }

local function letter(register)
  local low = register & 0xFF
  return string.char(low ~= 0 and low or (register >> 8))
end

return {
  name = "phoenix_ev_cc",
  kind = "charger",

  -- Its state is one letter, A to F, in IR 100.
  identify = function(dev)
    local r = dev:read_input(100, 1)
    if not r or not string.char(r[1] & 0xFF):match("^[A-F]$") or (r[1] >> 8) ~= 0 then return nil end
    return { make = "Phoenix Contact (Wallbe, Walli, Compleo)", model = "EV-CC" }
  end,

  init = function(dev)
    local r = dev:read_holding(528, 1)
    dev.state.tenths = r ~= nil and r[1] >= 60
  end,

  poll = function(dev)
    local s, err = dev:read_input(100, 1)
    if not s then return nil, err end
    local m, err2 = dev:read_input(108, 14)          -- IR 108..121
    if not m then return nil, err2 end
    local e, err3 = dev:read_holding(904, 2)
    if not e then return nil, err3 end
    local function i32(at) return fusebox.decode(m, at - 107, "int32", "low_first") end
    return {
      status = letters[letter(s[1])] or "unavailable",
      voltage = { i32(108), i32(110), i32(112) },
      current = { i32(114), i32(116), i32(118) },
      power = i32(120),
      energy = fusebox.decode(e, 1, "uint32", "low_first") / 1000,
    }
  end,

  apply = function(dev, amps)
    if amps <= 0 then
      dev.state.enabled = false
      return dev:write_coil(400, false)
    end
    local value = dev.state.tenths and math.floor(amps * 10 + 0.5) or math.floor(amps)
    local ok, err = dev:write_register(528, value)
    if not ok then return nil, err end
    if dev.state.enabled ~= true then
      ok, err = dev:write_coil(400, true)
      if not ok then return nil, err end
      dev.state.enabled = true
    end
    return true
  end,
}
