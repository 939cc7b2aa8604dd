-- SunSpec devices: PV inverters and meters (Modbus TCP).
--
-- Register map: no fixed addresses. The "SunS" marker (0x5375 0x6E53)
-- sits at 40000 (else 0 or 50000); after it comes a chain of model blocks,
-- [model id, length, ...length registers], ended by id 0xFFFF.
--   * model 1 (common): manufacturer, model, serial number (ASCII);
--   * inverters 101-103 (integers with scale factors) or 111-113 (float32):
--     AC power W, energy WH;
--   * meters 201-203 (integers with scale factors) or 211-213 (float32): W,
--     WphA/B/C, AphA/B/C, PhVphA/B/C, TotWhImp; + = import.
-- A meter model, when present, is what is reported (a grid meter); otherwise
-- the inverter's power and energy (a PV meter). Per-phase currents are signed
-- by the phase's power, as for the SDM630. Point offsets are counted from the
-- model's first data register (after id and length).

local BASES = { 40000, 0, 50000 }
local NOT_IMPLEMENTED = { [0x8000] = true, [0xFFFF] = true }

local function s16(r) return r >= 0x8000 and r - 0x10000 or r end

local function scaled(value, sf)
  if NOT_IMPLEMENTED[value] then return nil end
  return s16(value) * 10.0 ^ s16(sf)
end

local function discover(dev)
  for _, base in ipairs(BASES) do
    local m = dev:read_holding(base, 2)
    if m and m[1] == 0x5375 and m[2] == 0x6E53 then
      local models, at = {}, base + 2
      for _ = 1, 64 do
        local h, err = dev:read_holding(at, 2)
        if not h then return nil, err end
        if h[1] == 0xFFFF then return models end
        models[h[1]] = { start = at + 2, length = h[2] }
        at = at + 2 + h[2]
      end
      return nil, "SunSpec model chain does not end"
    end
  end
  return nil, "no SunSpec marker \"SunS\" at 40000, 0 or 50000"
end

local function read_model(dev, model)
  local regs, at = {}, model.start
  local left = model.length
  while left > 0 do
    local n = math.min(left, 120)
    local r, err = dev:read_holding(at, n)
    if not r then return nil, err end
    for k = 1, n do regs[#regs + 1] = r[k] end
    at, left = at + n, left - n
  end
  return regs
end

local function pick(models, ids)
  for _, id in ipairs(ids) do if models[id] then return id, models[id] end end
end

local function signed_currents(current, power)
  for k = 1, 3 do
    if current[k] and power[k] then current[k] = power[k] < 0 and -math.abs(current[k]) or math.abs(current[k]) end
  end
  return current
end

return {
  name = "sunspec",
  kind = "meter",

  -- The "SunS" marker, then the common model's manufacturer, model and serial number.
  identify = function(dev)
    local models = discover(dev)
    if not models or not models[1] then return nil end
    local c = read_model(dev, models[1])
    if not c then return nil end
    local kind = pick(models, { 201, 202, 203, 211, 212, 213 }) and "meter" or "inverter"
    local serial = fusebox.ascii(c, 49, 16)
    return { make = fusebox.ascii(c, 1, 16), model = fusebox.ascii(c, 17, 16) .. " (SunSpec " .. kind .. ")",
             serial = serial ~= "" and serial or nil }
  end,

  init = function(dev)
    local models, err = discover(dev)
    if not models then error(err, 0) end
    dev.state.models = models
    local common = models[1] and read_model(dev, models[1])
    if common then
      dev.state.identity = fusebox.ascii(common, 1, 16) .. " " .. fusebox.ascii(common, 17, 16)
    end
  end,

  poll = function(dev)
    local models = dev.state.models
    local id, model = pick(models, { 203, 202, 201, 213, 212, 211 })
    if id then
      local r, err = read_model(dev, model)
      if not r then return nil, err end
      local current, voltage, power, total, imported
      if id < 210 then
        local a, v, w, e = r[5], r[14], r[21], r[53]
        current = { scaled(r[2], a), scaled(r[3], a), scaled(r[4], a) }
        voltage = { scaled(r[7], v), scaled(r[8], v), scaled(r[9], v) }
        power = { scaled(r[18], w), scaled(r[19], w), scaled(r[20], w) }
        total = scaled(r[17], w)
        imported = fusebox.decode(r, 45, "uint32") * 10.0 ^ s16(e)
      else
        local function f(at) return fusebox.decode(r, at + 1, "float32") end
        current = { f(2), f(4), f(6) }
        voltage = { f(10), f(12), f(14) }
        power = { f(28), f(30), f(32) }
        total = f(26)
        imported = f(66)
      end
      return { current = signed_currents(current, power), voltage = voltage, phase_power = power,
               power = total, energy = imported / 1000 }
    end
    id, model = pick(models, { 103, 102, 101, 113, 112, 111 })
    if not id then return nil, "no SunSpec inverter or meter model found" end
    local r, err = read_model(dev, model)
    if not r then return nil, err end
    if id < 110 then
      local a, v = r[5], r[12]
      return {
        current = { scaled(r[2], a), scaled(r[3], a), scaled(r[4], a) },
        voltage = { scaled(r[9], v), scaled(r[10], v), scaled(r[11], v) },
        power = scaled(r[13], r[14]),
        energy = fusebox.decode(r, 23, "uint32") * 10.0 ^ s16(r[25]) / 1000,
      }
    end
    local function f(at) return fusebox.decode(r, at + 1, "float32") end
    return { current = { f(2), f(4), f(6) }, voltage = { f(14), f(16), f(18) }, power = f(20), energy = f(30) / 1000 }
  end,
}
