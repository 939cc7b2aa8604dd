
return {
  name = nil,
  allocate = function(site)
    error(setmetatable({}, { __tostring = function() while true do end end }))
  end,
}
