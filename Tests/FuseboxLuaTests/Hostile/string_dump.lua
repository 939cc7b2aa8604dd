
return {
  name = nil,
  allocate = function(site)
    local bytes = string.dump(function() end)
    return {}
  end,
}
