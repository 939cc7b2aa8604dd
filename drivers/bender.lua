-- Bender CC612/CC613 controllers: Mennekes AMTRON Professional(+), Webasto
-- Live. Modbus TCP, unit 255; the register set must be "Ebee/Bender/MENNEKES"
-- with "Modbus TCP Server for EMS" on.
--
-- Register map: HR 122: 1 = no car, 2 = connected, 3 or 4 = charging.
-- Currents HR 212 (3 x uint32 mA), energy HR 218 (uint32 Wh), power HR 220
-- (uint32 W), voltages HR 222 (3 x uint32 V); 0xFFFFFFFF marks an invalid
-- reading (retry). The limit is HR 1000 "HEMS current limit", uint16 A, FC16.
-- "If HR 1001 is readable: 0.1 A steps": read here as firmware that takes the
-- limit in 0.1 A in HR 1001 (as other integrations do); without it, whole
-- amps in HR 1000. No Modbus keepalive.

local INVALID = 0xFFFFFFFF

return {
  name = "bender",
  kind = "charger",

  -- The controller names its model in HR 142 (ten registers of text).
  identify = function(dev)
    local r = dev:read_holding(142, 10)
    if not r then return nil end
    local model = fusebox.ascii(r, 1, 10)
    if not model:match("^%w[%w%p ]*$") then return nil end
    return { make = "Bender (Mennekes, Webasto Live)", model = model }
  end,

  init = function(dev)
    dev.state.tenths = dev:read_holding(1001, 1) ~= nil
  end,

  poll = function(dev)
    local s, err = dev:read_holding(122, 1)
    if not s then return nil, err end
    local m, err2 = dev:read_holding(212, 16)       -- HR 212..227
    if not m then return nil, err2 end
    local function u32(at) return fusebox.decode(m, at - 211, "uint32") end
    for _, at in ipairs({ 212, 214, 216, 218, 220 }) do
      if u32(at) == INVALID then return nil, "invalid reading at HR " .. at .. " (0xFFFFFFFF); retry" end
    end
    local state = s[1]
    local status = "unavailable"
    if state == 1 then status = "free"
    elseif state == 2 then status = "occupied"
    elseif state == 3 or state == 4 then status = "charging" end
    return {
      status = status,
      current = { u32(212) / 1000, u32(214) / 1000, u32(216) / 1000 },
      voltage = { u32(222), u32(224), u32(226) },
      power = u32(220),
      energy = u32(218) / 1000,
    }
  end,

  apply = function(dev, amps)
    if dev.state.tenths then
      return dev:write_registers(1001, { math.floor(amps * 10 + 0.5) })
    end
    return dev:write_registers(1000, { math.floor(amps) })
  end,
}
